import type { Server, TuntcpNet } from '../socket/net.ts';
import { startService, type Service, type ServiceOptions } from './service.ts';

/** The RFC 864 pattern: 72-character lines of a rotating printable-ASCII window. */
function chargenBlock(): Buffer {
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
  const lines: string[] = [];
  for (let i = 0; i < 95; i++) lines.push((printable + printable).slice(i, i + 72) + '\r\n');
  return Buffer.from(lines.join(''), 'ascii');
}

/** Character generator (RFC 864): sends until the peer closes, as fast as the windows allow. */
export function chargenService(net: TuntcpNet, options: ServiceOptions): Service {
  const block = chargenBlock();
  return startService(net, 'chargen', options, { allowHalfOpen: false }, (socket) => {
    socket.on('error', () => undefined);
    socket.resume(); // input is ignored (RFC 864)
    const fill = (): void => {
      // `writable` turns false at end() (shutdown): the FIN then follows what is queued.
      while (socket.writable && socket.write(block)) {
        /* keep the send buffer full */
      }
    };
    socket.on('drain', fill);
    fill();
  });
}

/** The bare server, for code that wants only a listener (tests, embedding). */
export function startChargen(net: TuntcpNet, portOrOptions: number | ServiceOptions): Server {
  return chargenService(net, typeof portOrOptions === 'number' ? { port: portOrOptions } : portOrOptions).server;
}
