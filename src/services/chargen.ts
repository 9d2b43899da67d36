import type { Server } from '../socket/server.ts';
import type { TuntcpNet } from '../socket/net.ts';

/** The RFC 864 pattern: 72-character lines of a rotating printable-ASCII window. */
function chargenBlock(): Buffer {
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
  const lines: string[] = [];
  for (let i = 0; i < 95; i++) lines.push((printable + printable).slice(i, i + 72) + '\r\n');
  return Buffer.from(lines.join(''), 'ascii');
}

/** Character generator (RFC 864): sends until the peer closes, as fast as the windows allow. */
export function startChargen(net: TuntcpNet, port: number): Server {
  const block = chargenBlock();
  return net
    .createServer((socket) => {
      socket.on('error', () => undefined);
      socket.resume(); // input is ignored (RFC 864)
      const fill = (): void => {
        while (!socket.destroyed && socket.write(block)) {
          /* keep the send buffer full */
        }
      };
      socket.on('drain', fill);
      fill();
    })
    .listen(port);
}
