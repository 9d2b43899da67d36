import type { Server } from '../socket/server.ts';
import type { TuntcpNet } from '../socket/net.ts';

/** Discard (RFC 863): reads and drops everything; closes when the peer does. */
export function startDiscard(net: TuntcpNet, port: number): Server {
  return net
    .createServer((socket) => {
      socket.on('error', () => undefined);
      socket.resume();
    })
    .listen(port);
}
