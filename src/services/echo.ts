import type { Server } from '../socket/server.ts';
import type { TuntcpNet } from '../socket/net.ts';

/** Echo (RFC 862): sends back what it receives; pipe() carries TCP's back-pressure both ways. */
export function startEcho(net: TuntcpNet, port: number): Server {
  return net
    .createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.pipe(socket);
    })
    .listen(port);
}
