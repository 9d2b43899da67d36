import type { Server, TuntcpNet } from '../socket/net.ts';
import { startService, type Service, type ServiceOptions } from './service.ts';

/** Discard (RFC 863): reads and drops everything; closes when the peer does. */
export function discardService(net: TuntcpNet, options: ServiceOptions): Service {
  return startService(net, 'discard', options, { allowHalfOpen: false }, (socket) => {
    socket.on('error', () => undefined);
    socket.resume();
  });
}

/** The bare server, for code that wants only a listener (tests, embedding). */
export function startDiscard(net: TuntcpNet, portOrOptions: number | ServiceOptions): Server {
  return discardService(net, typeof portOrOptions === 'number' ? { port: portOrOptions } : portOrOptions).server;
}
