import { existsSync, statSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { startChargen } from '../../services/chargen.ts';
import { startDiscard } from '../../services/discard.ts';
import { startEcho } from '../../services/echo.ts';
import { startHttp } from '../../services/http.ts';
import { createNet } from '../../socket/net.ts';
import type { Server } from '../../socket/server.ts';
import { describeTunStack, openTunStack, type TunStack } from '../../stack/tun-stack.ts';
import { log, setLogLevel } from '../log.ts';
import { withStackOptions, type StackCliOptions } from '../options.ts';
import { runUntilSignal } from '../signals.ts';

interface ServeOptions extends StackCliOptions {
  'http-port': number;
  'echo-port': number;
  'discard-port': number;
  'chargen-port': number;
  root: string | undefined;
  rcvbuf: number;
  sndbuf: number;
  backlog: number;
  'syn-backlog': number;
  'delack-ms': number;
  nodelay: boolean;
  'grace-ms': number;
}

function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--${name} ${port}: a port is an integer from 0 (off) to 65535`);
}

function checkPositive(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`--${name} ${value}: must be an integer from 1 to ${max}`);
}

/**
 * `tuntcp serve`: the demo people run — Node's http, echo, discard and chargen
 * over tuntcp, reachable from the namespace with curl and nc, until Ctrl-C.
 */
export const serveCommand: CommandModule<object, ServeOptions> = {
  command: 'serve',
  describe: 'serve HTTP (Node\'s http module), echo, discard and chargen over the stack until Ctrl-C',
  builder: (y) =>
    withStackOptions(y)
      .option('http-port', { type: 'number', default: 80, describe: 'HTTP port (0 turns it off): /, /bytes/N, POST /sha256, /slow?rate=B, /stats' })
      .option('echo-port', { type: 'number', default: 7, describe: 'echo service port (RFC 862; 0 turns it off)' })
      .option('discard-port', { type: 'number', default: 9, describe: 'discard service port (RFC 863; 0 turns it off)' })
      .option('chargen-port', { type: 'number', default: 0, describe: 'chargen service port (RFC 864; 0 turns it off)' })
      .option('root', { type: 'string', describe: 'directory served by HTTP instead of the built-in greeting' })
      .option('rcvbuf', { type: 'number', default: 65536, describe: 'receive buffer per connection, bytes (the largest window we advertise)' })
      .option('sndbuf', { type: 'number', default: 65536, describe: 'send buffer per connection, bytes' })
      .option('backlog', { type: 'number', default: 128, describe: 'accept queue limit per listener' })
      .option('syn-backlog', { type: 'number', default: 256, describe: 'SYN queue limit per listener (half-open connections)' })
      .option('delack-ms', { type: 'number', default: 40, describe: 'delayed-ACK timeout, ms (at most 500)' })
      .option('nodelay', { type: 'boolean', default: false, describe: "turn Nagle's algorithm off on every connection" })
      .option('grace-ms', { type: 'number', default: 2000, describe: 'on Ctrl-C, how long open connections may finish before they are reset' })
      .example('sudo $0 serve', 'then: sudo ip netns exec tuntcp curl http://10.0.0.2/'),
  handler: async (argv) => {
    setLogLevel(argv['log-level']);
    let stack: TunStack;
    try {
      for (const name of ['http-port', 'echo-port', 'discard-port', 'chargen-port'] as const) checkPort(name, argv[name]);
      checkPositive('rcvbuf', argv.rcvbuf, 1 << 30);
      checkPositive('sndbuf', argv.sndbuf, 1 << 30);
      checkPositive('backlog', argv.backlog, 65535);
      checkPositive('syn-backlog', argv['syn-backlog'], 65535);
      checkPositive('delack-ms', argv['delack-ms'], 500);
      if (argv.root !== undefined && !(existsSync(argv.root) && statSync(argv.root).isDirectory())) {
        throw new Error(`--root ${argv.root}: no such directory`);
      }
      const ports = [argv['http-port'], argv['echo-port'], argv['discard-port'], argv['chargen-port']].filter((p) => p !== 0);
      if (new Set(ports).size !== ports.length) throw new Error('two services were given the same port');
      stack = await openTunStack({
        netns: argv.netns,
        dev: argv.dev,
        address: argv.addr,
        kernelAddress: argv['kernel-addr'],
        mtu: argv.mtu,
        txqueuelen: argv.txqueuelen,
        pcap: argv.pcap,
        impair: argv.impair,
        tcp: {
          rcvBuf: argv.rcvbuf,
          sndBuf: argv.sndbuf,
          backlog: argv.backlog,
          synBacklog: argv['syn-backlog'],
          delAckMs: argv['delack-ms'],
        },
      });
    } catch (err) {
      log.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    }
    const net = createNet(stack.driver);
    const servers: Server[] = [];
    const services: string[] = [];
    const stats = (): unknown => ({ ip: stack.stack.stats, tcp: stack.tcp.stats, connections: [...stack.tcp.connections()].map((c) => c.getInfo()) });
    if (argv['http-port']) {
      const { server } = startHttp(net, { port: argv['http-port'], root: argv.root, stats });
      servers.push(server);
      services.push(`http :${argv['http-port']}`);
    }
    if (argv['echo-port']) {
      servers.push(startEcho(net, argv['echo-port']));
      services.push(`echo :${argv['echo-port']}`);
    }
    if (argv['discard-port']) {
      servers.push(startDiscard(net, argv['discard-port']));
      services.push(`discard :${argv['discard-port']}`);
    }
    if (argv['chargen-port']) {
      servers.push(startChargen(net, argv['chargen-port']));
      services.push(`chargen :${argv['chargen-port']}`);
    }
    if (argv.nodelay) for (const s of servers) s.on('connection', (socket: { setNoDelay(v: boolean): void }) => socket.setNoDelay(true));
    log.info(describeTunStack(stack));
    log.info(`serving ${services.join(', ') || 'nothing'}`);
    if (argv['http-port']) {
      const port = argv['http-port'] === 80 ? '' : `:${argv['http-port']}`;
      log.info(`try: sudo ip netns exec ${argv.netns} curl http://${argv.addr}${port}/   (Ctrl-C stops and cleans up)`);
    }
    await runUntilSignal({
      graceful: async () => {
        log.info(`stopping: listeners closed, open connections have ${argv['grace-ms']} ms to finish`);
        const sockets = servers.flatMap((s) => [...s.connections()]);
        for (const s of servers) s.close();
        for (const socket of sockets) socket.end();
        const deadline = Date.now() + argv['grace-ms'];
        while (Date.now() < deadline && sockets.some((s) => !s.destroyed)) await new Promise((r) => setTimeout(r, 20));
        const aborted = sockets.filter((s) => !s.destroyed);
        for (const socket of aborted) socket.resetAndDestroy();
        if (aborted.length > 0) log.info(`reset ${aborted.length} connection(s) still open after the grace period`);
        // Let the RSTs leave before the device goes away.
        await new Promise((r) => setTimeout(r, 10));
        await stack.close();
      },
      immediate: () => stack.closeNow(),
    });
    log.info(`stopped; namespace ${argv.netns} removed`);
    process.exit(0);
  },
};
