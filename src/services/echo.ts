import type { Server, TuntcpNet } from '../socket/net.ts';
import { startService, type Service, type ServiceOptions } from './service.ts';

/** Echo (RFC 862): sends back what it receives; pipe() carries TCP's back-pressure both ways. */
export function echoService(net: TuntcpNet, options: ServiceOptions): Service {
  return startService(net, 'echo', options, { allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
}

/** The bare server, for code that wants only a listener (tests, embedding). */
export function startEcho(net: TuntcpNet, portOrOptions: number | ServiceOptions): Server {
  return echoService(net, typeof portOrOptions === 'number' ? { port: portOrOptions } : portOrOptions).server;
}
