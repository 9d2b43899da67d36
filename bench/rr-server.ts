/**
 * The kernel-side request/response server of the bench (veth and
 * slirp4netns paths): `serveRr` on Node's `net`, the same handler tuntcp's
 * side runs on its own sockets.
 *
 *   node --import tsx bench/rr-server.ts --host ADDR --ports 7001[,7002...]
 *
 * Prints `{"ready":true,"pid":N}` once listening; stops on SIGTERM/SIGINT or
 * when its stdin closes.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { serveRr } from './rr-service.ts';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    ports: { type: 'string', default: '7001' },
  },
});

const ports = (values.ports ?? '').split(',').filter((p) => p !== '').map(Number);
if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
  process.stderr.write(`rr-server: --ports ${String(values.ports)}: expected ports 1-65535\n`);
  process.exit(2);
}

const stop = (): never => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

let listening = 0;
for (const port of ports) {
  net
    .createServer({ noDelay: true }, serveRr)
    .on('error', (err) => {
      process.stderr.write(`rr-server: port ${port}: ${err.message}\n`);
      process.exit(1);
    })
    // A deep accept queue: the idle run connects thousands at once.
    .listen({ host: values.host, port, backlog: 4096 }, () => {
      if (++listening === ports.length) process.stdout.write(JSON.stringify({ ready: true, pid: process.pid }) + '\n');
    });
}
