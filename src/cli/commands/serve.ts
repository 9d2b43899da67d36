import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { chargenService } from '../../services/chargen.ts';
import { startIperf3 } from '../../services/iperf3.ts';
import { discardService } from '../../services/discard.ts';
import { echoService } from '../../services/echo.ts';
import { HTTP_ENDPOINTS_HELP, startHttp } from '../../services/http.ts';
import type { Service, ServiceBehaviour } from '../../services/service.ts';
import { createNet } from '../../socket/net.ts';
import { describeTunStack, openTunStack, type TunStack } from '../../stack/tun-stack.ts';
import type { TcpConfig } from '../../tcp/config.ts';
import { congestionControlNames, DEFAULT_CONGESTION_CONTROL } from '../../tcp/congestion/registry.ts';
import { checkTunPrerequisites } from '../../tun/prerequisites.ts';
import { checkControlSocketFree, startControlServer, type ControlServer } from '../control/server.ts';
import { takeSnapshot, type Snapshot } from '../control/snapshot.ts';
import { log, setLogLevel, UsageError } from '../log.ts';
import { withStackOptions, type StackCliOptions, tunStackOptionsFrom } from '../options.ts';
import { runUntilSignal } from '../signals.ts';
import { openTraceSink, TRACE_HELP, type TraceSink } from '../trace.ts';


/** TCP tunables shared by the commands that run a stack with connections (`serve`, `get`). */
/** How long the stack keeps running after the shutdown's RSTs (see graceful shutdown). */
const RESET_LINGER_MS = 200;

export interface TcpCliOptions {
  rcvbuf: number;
  sndbuf: number;
  backlog: number;
  'syn-backlog': number;
  'delack-ms': number;
  nodelay: boolean;
  cc: string;
}

export function withTcpOptions<T>(y: Argv<T>): Argv<T & TcpCliOptions> {
  return y
    .option('rcvbuf', { type: 'number', default: 65536, describe: 'receive buffer per connection, bytes (the largest window we advertise)' })
    .option('sndbuf', { type: 'number', default: 65536, describe: 'send buffer per connection, bytes (unacknowledged + unsent)' })
    .option('backlog', { type: 'number', default: 128, describe: 'accept queue limit per listener (established, not yet accepted)' })
    .option('syn-backlog', { type: 'number', default: 256, describe: 'SYN queue limit per listener (half-open connections)' })
    .option('delack-ms', { type: 'number', default: 40, describe: 'delayed-ACK timeout, ms (1..500)' })
    .option('nodelay', { type: 'boolean', default: false, describe: "turn Nagle's algorithm off on every connection" })
    .option('cc', {
      choices: congestionControlNames(),
      default: DEFAULT_CONGESTION_CONTROL,
      describe: 'congestion control for every connection (newreno: RFC 5681/6582; cubic: RFC 9438)',
    }) as Argv<T & TcpCliOptions>;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`--${name} ${value}: must be an integer from ${min} to ${max}`);
}

/**
 * Creates (truncates) an output file now, so that a path that cannot be
 * written fails before any namespace exists rather than silently later.
 */
export function checkWritableFile(flag: string, file: string | undefined): void {
  if (file === undefined || file === '-' || file === '') return;
  try {
    closeSync(openSync(file, 'w'));
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function tcpConfigFrom(argv: TcpCliOptions): Partial<TcpConfig> {
  checkInteger('rcvbuf', argv.rcvbuf, 1, 1 << 30);
  checkInteger('sndbuf', argv.sndbuf, 1, 1 << 30);
  checkInteger('backlog', argv.backlog, 1, 65535);
  checkInteger('syn-backlog', argv['syn-backlog'], 1, 65535);
  checkInteger('delack-ms', argv['delack-ms'], 1, 500);
  return {
    rcvBuf: argv.rcvbuf,
    sndBuf: argv.sndbuf,
    backlog: argv.backlog,
    synBacklog: argv['syn-backlog'],
    delAckMs: argv['delack-ms'],
    congestionControl: argv.cc,
  };
}

interface ServeOptions extends StackCliOptions, TcpCliOptions {
  'http-port': number;
  'echo-port': number;
  'discard-port': number;
  'chargen-port': number;
  'iperf3-port': number;
  root: string | undefined;
  'slow-reader': number;
  accept: boolean;
  'accept-every-ms': number;
  'grace-ms': number;
  trace: string | undefined;
}

const SERVICE_PORTS = ['http-port', 'echo-port', 'discard-port', 'chargen-port', 'iperf3-port'] as const;

function validate(argv: ServeOptions): void {
  for (const name of SERVICE_PORTS) checkInteger(name, argv[name], 0, 65535);
  const used = new Map<number, string>();
  for (const name of SERVICE_PORTS) {
    const port = argv[name];
    if (port === 0) continue;
    const other = used.get(port);
    if (other !== undefined) throw new UsageError(`port ${port} is given to both --${other} and --${name}`);
    used.set(port, name);
  }
  if (argv.root !== undefined && !(existsSync(argv.root) && statSync(argv.root).isDirectory())) {
    throw new UsageError(`--root ${argv.root}: no such directory`);
  }
  checkInteger('slow-reader', argv['slow-reader'], 0, 1 << 30);
  checkInteger('accept-every-ms', argv['accept-every-ms'], 0, 3_600_000);
  if (!argv.accept && argv['accept-every-ms'] > 0) throw new UsageError('--no-accept and --accept-every-ms contradict each other: pick one');
  checkInteger('grace-ms', argv['grace-ms'], 0, 600_000);
  checkWritableFile('--pcap', argv.pcap);
}

/**
 * `tuntcp serve`: the product people run — Node's http, echo, discard and
 * chargen over tuntcp, reachable from the namespace with curl and nc, a
 * control socket for `tuntcp ss`, and a graceful shutdown on Ctrl-C.
 */
export const serveCommand: CommandModule<object, ServeOptions> = {
  command: 'serve',
  describe: "serve HTTP (Node's http module), echo, discard and chargen over the stack until Ctrl-C",
  builder: (y) =>
    withTcpOptions(withStackOptions(y))
      .option('http-port', { type: 'number', default: 80, describe: `HTTP port (0 turns it off): ${HTTP_ENDPOINTS_HELP}` })
      .option('echo-port', { type: 'number', default: 7, describe: 'echo service port (RFC 862; 0 turns it off)' })
      .option('discard-port', { type: 'number', default: 9, describe: 'discard service port (RFC 863; 0 turns it off)' })
      .option('chargen-port', { type: 'number', default: 0, describe: 'chargen service port (RFC 864); off unless asked: its usual port is 19 (--chargen-port 19)' })
      .option('iperf3-port', { type: 'number', default: 0, describe: 'iperf3 server for the stock iperf3 client (TCP: -R, -P, --bidir); off unless asked: its usual port is 5201' })
      .option('root', { type: 'string', describe: 'directory whose files HTTP serves under / (instead of the greeting)' })
      .option('slow-reader', {
        type: 'number',
        default: 0,
        describe: 'every service reads its receive buffer at most this many bytes/s (0: as fast as it can) — the buffer fills and the window closes',
      })
      .option('accept', {
        type: 'boolean',
        default: true,
        describe: 'take new connections off the accept queue; --no-accept leaves them there (the queue fills and overflows)',
      })
      .option('accept-every-ms', {
        type: 'number',
        default: 0,
        describe: 'a busy application: accept() only every this many ms, then everything that waits (0: at once)',
      })
      .option('grace-ms', { type: 'number', default: 2000, describe: 'on Ctrl-C, how long open connections may finish (FIN) before they are reset (RST)' })
      .option('trace', { type: 'string', describe: TRACE_HELP })
      .example('sudo $0 serve', 'then: sudo ip netns exec tuntcp curl http://10.0.0.2/   (or: npx tuntcp exec -- curl http://10.0.0.2/)')
      .example('sudo $0 serve --slow-reader 2000 --rcvbuf 16384', 'uploads stall on a closed window; watch it with: tuntcp ss --watch')
      .example('sudo $0 serve --backlog 4 --no-accept', 'the accept queue fills; tuntcp ss shows it'),
  handler: async (argv) => {
    setLogLevel(argv['log-level']);
    let stack: TunStack;
    let trace: TraceSink | undefined;
    try {
      validate(argv);
      const tcp = tcpConfigFrom(argv);
      // Before anything is created: another serve on this namespace must be
      // left alone, not torn down by our cleanup.
      const missing = checkTunPrerequisites();
      if (missing.length > 0) throw new Error(missing.join('; '));
      await checkControlSocketFree(argv.netns);
      if (argv.trace !== undefined) trace = await openTraceSink(argv.trace);
      stack = await openTunStack({
        ...tunStackOptionsFrom(argv),
        dev: argv.dev,
        tcp,
        ...(trace ? { trace: trace.event } : {}),
      });
    } catch (err) {
      await trace?.close();
      log.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    }
    const startedAt = Date.now();
    const services: Service[] = [];
    let control: ControlServer | undefined;
    // From here on something exists that must not be left behind.
    const emergencyExit = (what: string, err: unknown): never => {
      log.error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      control?.closeSync();
      stack.closeNow();
      process.exit(1);
    };
    process.on('uncaughtException', (err) => emergencyExit('internal error', err));
    process.on('exit', () => control?.closeSync());

    const net = createNet(stack.driver);
    const behaviour: ServiceBehaviour = {
      noDelay: argv.nodelay,
      slowReaderBytesPerSecond: argv['slow-reader'],
      accept: !argv.accept ? 'never' : argv['accept-every-ms'] > 0 ? { everyMs: argv['accept-every-ms'] } : 'always',
    };
    const serviceByPort = new Map<number, string>();
    const snapshot = (): Snapshot =>
      takeSnapshot({
        netns: argv.netns,
        address: argv.addr,
        startedAt,
        ipStats: () => stack.stack.stats,
        tcpStats: () => stack.tcp.stats,
        listeners: () => stack.tcp.listeners(),
        connections: () => stack.tcp.connections(),
        serviceByPort,
      });
    if (argv['http-port']) services.push(startHttp(net, { ...behaviour, port: argv['http-port'], root: argv.root, stats: snapshot }));
    if (argv['echo-port']) services.push(echoService(net, { ...behaviour, port: argv['echo-port'] }));
    if (argv['discard-port']) services.push(discardService(net, { ...behaviour, port: argv['discard-port'] }));
    if (argv['chargen-port']) services.push(chargenService(net, { ...behaviour, port: argv['chargen-port'] }));
    if (argv['iperf3-port']) services.push(startIperf3(net, argv['iperf3-port'], behaviour));
    for (const s of services) {
      serviceByPort.set(s.port, s.name);
      s.server.on('error', (err: unknown) => emergencyExit(`${s.name} on port ${s.port}`, err));
      s.server.on('connection', (socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }) =>
        log.debug(`${s.name}: connection from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`),
      );
    }
    try {
      control = await startControlServer(argv.netns, snapshot);
    } catch (err) {
      log.warn(`${err instanceof Error ? err.message : String(err)}; tuntcp ss will not see this instance`);
    }

    log.info(describeTunStack(stack));
    log.info(`serving ${services.map((s) => `${s.name} :${s.port}`).join(', ') || 'nothing'}`);
    if (argv['http-port']) {
      const port = argv['http-port'] === 80 ? '' : `:${argv['http-port']}`;
      const nsFlag = argv.netns === 'tuntcp' ? '' : ` --netns ${argv.netns}`;
      log.info(`try: sudo ip netns exec ${argv.netns} curl http://${argv.addr}${port}/   or: npx tuntcp exec${nsFlag} -- curl http://${argv.addr}${port}/`);
    }
    log.info(`watch: npx tuntcp ss${argv.netns === 'tuntcp' ? '' : ` --netns ${argv.netns}`}   (Ctrl-C stops and cleans up)`);

    await runUntilSignal({
      graceful: async () => {
        const sockets = services.flatMap((s) => [...s.server.connections()]);
        log.info(`stopping: listeners closed; ${sockets.length} open connection(s) have ${argv['grace-ms']} ms to finish`);
        for (const s of services) s.stopListening();
        for (const s of services) s.finishConnections();
        const deadline = Date.now() + argv['grace-ms'];
        // Bounded by the grace period: 20 ms steps until every socket closed or time is up.
        while (Date.now() < deadline && sockets.some((s) => !s.destroyed)) await new Promise((r) => setTimeout(r, 20));
        const aborted = sockets.filter((s) => !s.destroyed);
        for (const socket of aborted) socket.resetAndDestroy();
        if (aborted.length > 0) log.info(`reset ${aborted.length} connection(s) still open after the grace period`);
        // Let the RSTs leave before the device goes away, and stay a moment
        // to answer what they provoke: an RST whose sequence number is in
        // the peer's window but not exactly RCV.NXT (data of ours it never
        // took) draws a challenge ACK (RFC 5961 §3.2), which the closed
        // connection answers with an RST at exactly its ACK number.
        if (aborted.length > 0) await new Promise((r) => setTimeout(r, RESET_LINGER_MS));
        await control?.close();
        await stack.close();
        await trace?.close();
      },
      immediate: () => {
        // No waiting, but no client left hanging either: an RST for every
        // connection leaves synchronously, before the device goes.
        for (const s of services) for (const socket of [...s.server.connections()]) socket.resetAndDestroy();
        control?.closeSync();
        stack.closeNow();
      },
    });
    log.info(`stopped; ${stack.ownsNamespace ? `namespace ${argv.netns}` : `device ${argv.dev}`} removed`);
    process.exit(0);
  },
};
