/**
 * `npm run bench`: tuntcp side by side with the kernel's TCP over a veth pair
 * and with slirp4netns (a C userspace TCP stack on a tap device, our closest
 * peer), in one run, on the same clients:
 *
 *   - throughput both ways with the real iperf3 (our side runs tuntcp's
 *     iperf3 server), at MTU 1500 and at the largest MTU each path takes;
 *   - short connections per second and the 1-byte round trip (median, p99)
 *     with one client program (bench/rr-client.ts) against one server
 *     handler (bench/rr-service.ts) on Node's net or on tuntcp;
 *   - N idle connections and the RSS of the process that holds them;
 *   - parallel streams (iperf3 -P 1, 8, 64) both ways at MTU 1500: the
 *     aggregate, its ratio P=max ÷ P=1, and stalls (0-byte iperf3 intervals).
 *
 * Every path lives in namespaces this script creates and removes, its
 * servers on loopback or on links between those namespaces only:
 *
 *   kernel (veth)  ns -vc 10.0.1.2 ──veth── ns -vs 10.0.1.1: iperf3 -s, rr-server
 *   slirp4netns    ns -sg 10.0.2.100 ──tap0── slirp4netns (in ns -sh) ──> ns -sh 127.0.0.1:
 *                  iperf3 -s, rr-server (the guest reaches them as 10.0.2.2)
 *   tuntcp         ns -tt 10.0.0.1 ──tun0── tuntcp 10.0.0.2 (bench/tuntcp-server.ts)
 *
 * Rounds interleave the paths, so a burst of load from elsewhere on the
 * machine hits all of them alike; each figure is the median of the rounds
 * with min and max beside it.
 *
 *   npm run bench                  3 rounds, iperf3 -t 5, 100,000 idle connections
 *   npm run bench -- --quick       iperf3 -t 1, shorter request/response runs
 *   npm run bench -- --smoke       one short round of everything (CI), idle 200
 *   npm run bench -- --idle 10000  10,000 idle connections instead
 *   npm run bench -- --profile     tuntcp only, under node --cpu-prof; prints the top self-time functions
 *   npm run bench -- --help
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NOFILE, REPO_ROOT, Resources, cpuSeconds, rssBytes, run, sleep, spread, waitForListener, which, type Proc, type Spread } from './lib.ts';
import { checkTunPrerequisites } from '../src/tun/prerequisites.ts';
import { formatSummary, readProfile, summarizeProfile, type ProfileSummary } from './profile-top.ts';

/**
 * `tuntcp-nooff` is tuntcp with `--no-offload` (one packet per segment
 * across the TUN, as slirp4netns): what segmentation and checksum offload
 * buy, in the same run. It runs the throughput and parallel measurements
 * only; the others barely involve offload.
 */
type PathName = 'veth' | 'slirp' | 'tuntcp' | 'tuntcp-nooff';
const ALL_PATHS: readonly PathName[] = ['veth', 'slirp', 'tuntcp', 'tuntcp-nooff'];
const LABEL: Record<PathName, string> = {
  veth: 'kernel (veth)',
  slirp: 'slirp4netns',
  tuntcp: 'tuntcp',
  'tuntcp-nooff': 'tuntcp --no-offload',
};
/** Paths measured for throughput and parallel streams only. */
const THROUGHPUT_ONLY: ReadonlySet<PathName> = new Set(['tuntcp-nooff']);
/** The largest MTU each path takes: veth and TUN 65535, slirp4netns 65521 (we use 65520, as its manual does). */
const MAX_MTU: Record<PathName, number> = { veth: 65535, slirp: 65520, tuntcp: 65535, 'tuntcp-nooff': 65535 };
const IPERF3_PORT = 5201;
const RR_PORT_BASE = 7001;
/**
 * Idle connections per server port, each port served by its own kernel-side
 * server process and loaded by its own client process from its own source
 * address: inside one address's 64k ephemeral ports and inside one process's
 * descriptor limit.
 */
const IDLE_PER_PORT = Math.max(100, Math.min(25_000, NOFILE - 1_000));

const HELP = `usage: npm run bench -- [options]

  --quick            iperf3 -t 1 and 1 s request/response runs (default: -t 5, 3 s)
  --smoke            one round, ~0.5 s per measurement, idle 200: checks that every path measures (CI)
  --rounds N         rounds per measurement (default 3; --smoke: 1)
  --seconds N        iperf3 -t N
  --idle N           idle connections to hold (default 100000; a path that cannot hold them all
                     stops 60 s after its last successful connect)
  --idle-100k        the same as --idle 100000
  --paths LIST       which of veth,slirp,tuntcp,tuntcp-nooff to run (default: all); tuntcp-nooff is
                     tuntcp --no-offload, measured for throughput and parallel streams only
  --mtus LIST        1500 and/or max (default: 1500,max; --smoke: 1500)
  --concurrency N    short connections in flight at once (default 4)
  --parallel LIST    iperf3 -P values for the parallel-streams measurement at MTU 1500
                     (default 1,8,64; --smoke: 1,8; 'none' skips it); each run -t 2 (--quick: -t 1)
  --rcvbuf B, --sndbuf B   tuntcp's per-connection buffers (default 262144 each; \`tuntcp serve\`
                     defaults to 65536, small enough to watch windows close)
  --out FILE         where the JSON goes (default bench/results/<date>.json)
  --only LIST        run only these measurements: throughput, parallel, rr, idle (default: all)
  --profile          tuntcp only: iperf3 both ways under node --cpu-prof; prints the top 15 self-time functions;
                     with --only idle: the idle connections' connect phase under node --cpu-prof instead
  --profile-crr      with --profile: the short-connection run (crr) instead of iperf3 (figure in conn/s)
  --max-minutes N    stop (and clean up) after N minutes whatever happens (default 45)

Needs root (namespaces, TUN), /dev/net/tun, ip, iperf3 and slirp4netns:
  apt-get install -y iperf3 slirp4netns
`;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'profile-crr': { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    idle: { type: 'string' },
    'idle-100k': { type: 'boolean', default: false },
    paths: { type: 'string' },
    only: { type: 'string' },
    mtus: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    parallel: { type: 'string' },
    // The kernel's sockets (veth, and slirp4netns's host side) start at
    // 128 KiB and autotune up to several MiB; 256 KiB each is modest.
    rcvbuf: { type: 'string', default: '262144' },
    sndbuf: { type: 'string', default: '262144' },
    out: { type: 'string' },
    'max-minutes': { type: 'string', default: '45' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

function die(message: string, code = 2): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(code);
}

function posInt(name: string, text: string | undefined, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) die(`--${name} ${text}: expected a positive integer`);
  return n;
}

const smoke = values.smoke;
const quick = values.quick;
const config = {
  rounds: posInt('rounds', values.rounds, smoke ? 1 : 3),
  iperfSeconds: posInt('seconds', values.seconds, quick ? 1 : 5),
  rrSeconds: smoke ? 0.5 : quick ? 1 : 3,
  // The issue's figure. A path that cannot hold that many (slirp4netns: one
  // descriptor per connection) stops trying 60 s after its last success.
  idle: values['idle-100k'] ? 100_000 : posInt('idle', values.idle, smoke ? 200 : 100_000),
  concurrency: posInt('concurrency', values.concurrency, 4),
  mtus: (values.mtus ?? (smoke ? '1500' : '1500,max')).split(',').filter((m) => m !== ''),
  maxMinutes: posInt('max-minutes', values['max-minutes'], 45),
  /** iperf3 -P values of the parallel-streams measurement (MTU 1500 only). */
  parallel: parseParallel(values.parallel ?? (smoke ? '1,8' : '1,8,64')),
  /** Seconds per parallel run: short, there are |P| x 2 directions x paths x rounds of them. */
  parallelSeconds: quick ? 1 : 2,
};

function parseParallel(text: string): number[] {
  if (text === 'none' || text === '') return [];
  const list = text.split(',').filter((t) => t !== '').map((t) => posInt('parallel', t, 1));
  // The tuntcp iperf3 server takes at most 128 streams, as iperf3 does.
  for (const n of list) if (n > 128) die(`--parallel ${text}: at most 128 streams`);
  return [...new Set(list)].sort((a, b) => a - b);
}
for (const m of config.mtus) if (m !== '1500' && m !== 'max') die(`--mtus ${values.mtus}: use 1500 and/or max`);

type MeasureName = 'throughput' | 'parallel' | 'rr' | 'idle';
const ALL_MEASURES: readonly MeasureName[] = ['throughput', 'parallel', 'rr', 'idle'];
/** `--only`: a run that measures one thing need not wait for all the others (e.g. `--only idle --idle-100k`). */
const only: ReadonlySet<MeasureName> = new Set(
  (values.only ?? ALL_MEASURES.join(','))
    .split(',')
    .filter((m) => m !== '')
    .map((m) => {
      if (!(ALL_MEASURES as readonly string[]).includes(m)) die(`--only: unknown measurement '${m}' (${ALL_MEASURES.join(', ')})`);
      return m as MeasureName;
    }),
);
/** `--profile --only idle`: the tuntcp server runs under --cpu-prof during the idle measurement. */
const profileIdle = values.profile && only.size === 1 && only.has('idle');

const requestedPaths: PathName[] = values.profile
  ? ['tuntcp']
  : (values.paths ?? ALL_PATHS.join(','))
      .split(',')
      .filter((p) => p !== '')
      .map((p) => {
        if (!(ALL_PATHS as readonly string[]).includes(p)) die(`--paths: unknown path '${p}' (${ALL_PATHS.join(', ')})`);
        return p as PathName;
      });

// ---- what the machine must have ----------------------------------------------

function checkPrerequisites(): PathName[] {
  const problems: string[] = [];
  if (process.platform !== 'linux') die('Linux only (network namespaces, TUN)');
  // The stack's own check: capabilities (not uid), /dev/net/tun, ip.
  problems.push(...checkTunPrerequisites());
  const missing: string[] = [];
  if (!which('iperf3')) missing.push('iperf3');
  let paths = requestedPaths;
  if (paths.includes('slirp') && !which('slirp4netns')) {
    if (smoke && values.paths === undefined) {
      // CI installs it; a developer's smoke run still checks the other two.
      process.stderr.write('bench: slirp4netns is not installed: its column is skipped (apt-get install -y slirp4netns)\n');
      paths = paths.filter((p) => p !== 'slirp');
    } else {
      missing.push('slirp4netns');
    }
  }
  if (missing.length > 0) problems.push(`missing packages: ${missing.join(', ')} — install them with:\n  apt-get install -y ${missing.join(' ')}`);
  if (problems.length > 0) die(problems.join('\n'));
  return paths;
}

// ---- the three paths -------------------------------------------------------------

interface Endpoint {
  path: PathName;
  mtu: number;
  /** Where the clients run. */
  clientNs: string;
  /** The server address as the client sees it. */
  server: string;
  rrPorts: number[];
  /** Client source address per idle client process (empty: let the kernel choose). */
  idleLocals: string[];
  /** The processes whose RSS the idle run reports (summed). */
  memoryPids: () => number[];
  memoryWhat: string;
  /** The tuntcp server process (tuntcp only). */
  proc?: Proc;
}

const tag = `tb${process.pid}`;
const nodeTs = (script: string, args: readonly string[], extraNodeFlags: readonly string[] = []): string[] => [
  'prlimit',
  `--nofile=${NOFILE}:${NOFILE}`,
  process.execPath,
  ...extraNodeFlags,
  '--import',
  'tsx',
  path.join('bench', script),
  ...args,
];

/** Client namespaces make short connections by the thousand: a wide port range, TIME-WAIT reuse. */
function tuneClientNamespace(ns: string): void {
  run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65535']);
  run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1']);
}

async function startKernelServers(res: Resources, ns: string, host: string, rrPorts: number[]): Promise<Proc[]> {
  res.start('iperf3 -s', ns, ['iperf3', '-s', '-B', host, '-p', String(IPERF3_PORT)], { timeoutMs: 3_600_000 });
  // One process per port: each holds at most IDLE_PER_PORT descriptors.
  const rr = rrPorts.map((port) => res.start(`rr-server :${port}`, ns, nodeTs('rr-server.ts', ['--host', host, '--ports', String(port)]), { timeoutMs: 3_600_000 }));
  for (const p of rr) await p.waitForLine((l) => l.includes('"ready"'), 30_000);
  await waitForListener(res, ns, IPERF3_PORT);
  return rr;
}

async function setupVeth(res: Resources, mtu: number, rrPorts: number[], idleAddrs: number): Promise<Endpoint> {
  const s = res.addNamespace(`${tag}-vs`);
  const c = res.addNamespace(`${tag}-vc`);
  // Both ends are created inside the namespaces: the root namespace never sees the pair.
  run('ip', ['-n', s, 'link', 'add', 'vth0', 'type', 'veth', 'peer', 'name', 'vth1', 'netns', c]);
  run('ip', ['-n', s, 'link', 'set', 'vth0', 'mtu', String(mtu), 'up']);
  run('ip', ['-n', c, 'link', 'set', 'vth1', 'mtu', String(mtu), 'up']);
  run('ip', ['-n', s, 'addr', 'add', '10.0.1.1/24', 'dev', 'vth0']);
  run('ip', ['-n', c, 'addr', 'add', '10.0.1.2/24', 'dev', 'vth1']);
  const locals = ['10.0.1.2'];
  for (let i = 1; i < idleAddrs; i++) {
    run('ip', ['-n', c, 'addr', 'add', `10.0.1.${10 + i}/24`, 'dev', 'vth1']);
    locals.push(`10.0.1.${10 + i}`);
  }
  tuneClientNamespace(c);
  const rr = await startKernelServers(res, s, '10.0.1.1', rrPorts);
  return {
    path: 'veth',
    mtu,
    clientNs: c,
    server: '10.0.1.1',
    rrPorts,
    idleLocals: locals,
    memoryPids: () => rr.map((p) => p.pid),
    memoryWhat: 'the rr-server processes (Node net; the TCP state is kernel memory, not counted)',
  };
}

async function setupSlirp(res: Resources, mtu: number, rrPorts: number[]): Promise<Endpoint> {
  const host = res.addNamespace(`${tag}-sh`);
  const guest = res.addNamespace(`${tag}-sg`);
  // slirp4netns runs inside the "host" namespace, so its sockets (the far
  // side of every guest connection) open there; the guest reaches the host
  // namespace's loopback as 10.0.2.2 (host loopback stays enabled for that).
  // --disable-dns: nothing in the bench resolves names, and slirp's DNS
  // forwarder would be a way out of the namespaces.
  const slirp = res.start(
    'slirp4netns',
    host,
    ['prlimit', `--nofile=${NOFILE}:${NOFILE}`, 'slirp4netns', '--configure', `--mtu=${mtu}`, '--disable-dns', '--netns-type=path', `/var/run/netns/${guest}`, 'tap0'],
    { timeoutMs: 3_600_000 },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await res.exec('ip', null, ['ip', '-n', guest, '-4', 'addr', 'show', 'tap0'], 5_000);
    if (r.stdout.includes('10.0.2.100')) break;
    if (Date.now() > deadline) throw new Error(`slirp4netns did not configure tap0: ${slirp.stderr().trim()}`);
    await sleep(50);
  }
  tuneClientNamespace(guest);
  // slirp's own connections to the servers leave from the host namespace.
  tuneClientNamespace(host);
  await startKernelServers(res, host, '127.0.0.1', rrPorts);
  return {
    path: 'slirp',
    mtu,
    clientNs: guest,
    server: '10.0.2.2',
    rrPorts,
    idleLocals: [],
    memoryPids: () => [slirp.pid],
    memoryWhat: 'slirp4netns (its half of each connection; the host-side sockets are kernel memory)',
  };
}

async function setupTuntcp(
  res: Resources,
  mtu: number,
  rrPorts: number[],
  idleAddrs: number,
  cpuProfDir?: string,
  offload = true,
): Promise<Endpoint & { proc: Proc }> {
  const ns = offload ? `${tag}-tt` : `${tag}-tn`;
  // The server creates (and on exit removes) the namespace; we only make sure it goes.
  res.adoptNamespace(ns);
  const args = ['--netns', ns, '--mtu', String(mtu), '--iperf3-port', String(IPERF3_PORT), '--rr-ports', rrPorts.join(',') || '0'];
  args.push('--max-connections', String(config.idle + 10_000), '--offload', offload ? 'on' : 'off');
  args.push('--rcvbuf', values.rcvbuf ?? '262144', '--sndbuf', values.sndbuf ?? '262144');
  const prof = cpuProfDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  // In our own namespace: the stack opens its TUN inside `ns` itself (setns in the addon).
  const proc = res.start('tuntcp-server', null, nodeTs('tuntcp-server.ts', args, prof), { timeoutMs: 3_600_000 });
  await proc.waitForLine((l) => l.includes('"ready"'), 30_000);
  const locals = ['10.0.0.1'];
  for (let i = 1; i < idleAddrs; i++) {
    run('ip', ['-n', ns, 'addr', 'add', `10.0.0.${10 + i}/24`, 'dev', 'tun0']);
    locals.push(`10.0.0.${10 + i}`);
  }
  tuneClientNamespace(ns);
  return {
    path: offload ? 'tuntcp' : 'tuntcp-nooff',
    mtu,
    clientNs: ns,
    server: '10.0.0.2',
    rrPorts,
    idleLocals: locals,
    memoryPids: () => [proc.pid],
    memoryWhat: 'the tuntcp process (all TCP state and the sockets)',
    proc,
  };
}

// ---- measurements -------------------------------------------------------------------

interface Iperf3Json {
  error?: string;
  end?: { sum_received?: { bits_per_second?: number } };
}

const warnings: string[] = [];
function warn(message: string): void {
  warnings.push(message);
  process.stderr.write(`bench: ${message}\n`);
}

/** Receiver-side throughput in Gbit/s, or NaN (with a warning) when the run failed. */
async function iperf3(res: Resources, ep: Endpoint, reverse: boolean): Promise<number> {
  // --smoke moves a fixed amount instead: iperf3 -t takes whole seconds only.
  const length = smoke ? ['-n', '16M'] : ['-t', String(config.iperfSeconds)];
  const args = ['iperf3', '-c', ep.server, '-p', String(IPERF3_PORT), '-J', ...length, ...(reverse ? ['-R'] : [])];
  const r = await res.exec('iperf3 -c', ep.clientNs, args, (config.iperfSeconds + 30) * 1000);
  let json: Iperf3Json;
  try {
    json = JSON.parse(r.stdout) as Iperf3Json;
  } catch {
    warn(`${LABEL[ep.path]} mtu ${ep.mtu} iperf3${reverse ? ' -R' : ''}: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim()}`);
    return NaN;
  }
  const bps = json.end?.sum_received?.bits_per_second;
  if (json.error !== undefined || bps === undefined) {
    warn(`${LABEL[ep.path]} mtu ${ep.mtu} iperf3${reverse ? ' -R' : ''}: ${json.error ?? 'no receiver sum'}`);
    return NaN;
  }
  return bps / 1e9;
}

/** iperf3 -i: short enough that a stall of a few RTOs shows as an interval with no bytes. */
const PARALLEL_INTERVAL_S = 0.2;

interface Iperf3Intervals {
  error?: string;
  intervals?: { sum?: { bytes?: number; seconds?: number; omitted?: boolean } }[];
  end?: { sum_received?: { bits_per_second?: number } };
}

interface ParallelRun {
  gbps: number;
  /** Intervals of iperf3's per-interval sums (over all streams) with 0 bytes. */
  stalls: number;
  intervals: number;
}

/**
 * iperf3 -P N: the receiver's aggregate over all streams, and how many of the
 * client's per-interval sums (receiver side with -R, sender side without)
 * carried 0 bytes. A trailing stub interval (iperf3 may report a last one of
 * a few ms) is not a stall: only intervals of at least half the period count.
 */
async function iperf3Parallel(res: Resources, ep: Endpoint, reverse: boolean, streams: number): Promise<ParallelRun> {
  const length = smoke ? ['-n', '16M'] : ['-t', String(config.parallelSeconds)];
  const args = ['iperf3', '-c', ep.server, '-p', String(IPERF3_PORT), '-J', '-P', String(streams), '-i', String(PARALLEL_INTERVAL_S), ...length, ...(reverse ? ['-R'] : [])];
  const what = `${LABEL[ep.path]} mtu ${ep.mtu} iperf3 -P ${streams}${reverse ? ' -R' : ''}`;
  const r = await res.exec('iperf3 -c -P', ep.clientNs, args, (config.parallelSeconds + 30) * 1000);
  let json: Iperf3Intervals;
  try {
    json = JSON.parse(r.stdout) as Iperf3Intervals;
  } catch {
    warn(`${what}: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim()}`);
    return { gbps: NaN, stalls: NaN, intervals: 0 };
  }
  const bps = json.end?.sum_received?.bits_per_second;
  if (json.error !== undefined || bps === undefined) {
    warn(`${what}: ${json.error ?? 'no receiver sum'}`);
    return { gbps: NaN, stalls: NaN, intervals: 0 };
  }
  let stalls = 0;
  let intervals = 0;
  for (const iv of json.intervals ?? []) {
    const sum = iv.sum;
    if (!sum || sum.omitted === true || (sum.seconds ?? 0) < PARALLEL_INTERVAL_S / 2) continue;
    intervals++;
    if ((sum.bytes ?? 0) === 0) stalls++;
  }
  if (stalls > 0) warn(`${what}: ${stalls} of ${intervals} intervals (${PARALLEL_INTERVAL_S} s) moved 0 bytes`);
  return { gbps: bps / 1e9, stalls, intervals };
}

async function rrClient(res: Resources, ep: Endpoint, args: string[]): Promise<Record<string, number> | null> {
  const r = await res.exec('rr-client', ep.clientNs, nodeTs('rr-client.ts', args), (config.rrSeconds + 60) * 1000);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, number>;
  } catch {
    warn(`${LABEL[ep.path]} rr-client ${args[0]}: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    return null;
  }
}

async function roundTrip(res: Resources, ep: Endpoint): Promise<{ median: number; p99: number }> {
  const r = await rrClient(res, ep, ['rr', '--host', ep.server, '--port', String(ep.rrPorts[0]), '--seconds', String(config.rrSeconds)]);
  return { median: r?.['medianUs'] ?? NaN, p99: r?.['p99Us'] ?? NaN };
}

async function shortConnections(res: Resources, ep: Endpoint): Promise<number> {
  const r = await rrClient(res, ep, [
    'crr',
    '--host',
    ep.server,
    '--port',
    String(ep.rrPorts[0]),
    '--seconds',
    String(config.rrSeconds),
    '--concurrency',
    String(config.concurrency),
  ]);
  if (r && r['errors']! > 0) warn(`${LABEL[ep.path]} short connections: ${r['errors']} failed`);
  return r?.['perSecond'] ?? NaN;
}

interface IdleResult {
  requested: number;
  established: number;
  rssBeforeMB: number;
  rssMB: number;
  bytesPerConnection: number;
  connectSeconds: number;
  process: string;
  /**
   * Every few seconds of the connect phase: connections open (summed over the
   * clients' progress lines), the holder's RSS and the CPU share the holder
   * and the clients used since the previous sample (100 = one core).
   */
  progress: { seconds: number; open: number; perSecond: number; rssMB: number; holderCpu: number; clientsCpu: number }[];
}

/** CLOCK_MONOTONIC µs (the clock of a .cpuprofile) around the last idle connect phase. */
let lastIdleWindow: [number, number] = [0, Infinity];
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** The last {"mode":"idle","open":n} line of an idle client, 0 before the first. */
function lastOpen(client: Proc): number {
  const text = client.stdout();
  const at = text.lastIndexOf('{"mode":"idle","open":');
  if (at < 0) return 0;
  const end = text.indexOf('\n', at);
  if (end < 0) return 0; // a line still being written: the next sample has it
  return (JSON.parse(text.slice(at, end)) as { open: number }).open;
}

const cpuTotal = (pids: readonly number[]): number =>
  pids.reduce((a, pid) => {
    const c = cpuSeconds(pid);
    return a + (c ? c.user + c.system : 0);
  }, 0);

async function idleConnections(res: Resources, ep: Endpoint): Promise<IdleResult | null> {
  const pids = ep.memoryPids();
  const rss = (): number => pids.reduce((a, pid) => a + rssBytes(pid), 0);
  const before = rss();
  // One client process per server port (and source address): none holds more
  // descriptors than the limit allows.
  const clients: Proc[] = [];
  // Bounded, but with room for a loaded machine: slirp4netns took 22 s for
  // 10k on two busy cores, and more than 55 s when the load doubled.
  const connectSeconds = 60 + Math.ceil(config.idle / 200);
  let left = config.idle;
  for (let i = 0; i < ep.rrPorts.length && left > 0; i++) {
    const count = Math.min(left, IDLE_PER_PORT);
    left -= count;
    const args = ['idle', '--targets', `${ep.server}:${ep.rrPorts[i]}`, '--count', String(count), '--concurrency', '64'];
    args.push('--connect-timeout-seconds', String(connectSeconds), '--hold-seconds', String(connectSeconds + 60));
    const local = ep.idleLocals[i];
    if (local !== undefined) args.push('--local', local);
    clients.push(res.start(`rr-client idle ${i}`, ep.clientNs, nodeTs('rr-client.ts', args), { timeoutMs: (2 * connectSeconds + 120) * 1000 }));
  }
  const t0 = performance.now();
  lastIdleWindow = [monotonicUs(), Infinity];
  // The connect rate as the count grows, and who is busy meanwhile: the
  // evidence for "is the stack or the client the bottleneck at 100k?".
  const progress: IdleResult['progress'] = [];
  const clientPids = clients.map((c) => c.pid);
  let prev = { at: t0, open: 0, holderCpu: cpuTotal(pids), clientsCpu: cpuTotal(clientPids) };
  const sample = (final?: number): void => {
    const at = performance.now();
    const open = final ?? clients.reduce((a, c) => a + lastOpen(c), 0);
    const holderCpu = cpuTotal(pids);
    const clientsCpu = cpuTotal(clientPids);
    const dt = Math.max(1e-3, (at - prev.at) / 1000);
    const p = {
      seconds: Math.round((at - t0) / 100) / 10,
      open,
      perSecond: Math.round((open - prev.open) / dt),
      rssMB: Math.round(rss() / 2 ** 20),
      holderCpu: Math.round((100 * (holderCpu - prev.holderCpu)) / dt),
      clientsCpu: Math.round((100 * (clientsCpu - prev.clientsCpu)) / dt),
    };
    progress.push(p);
    prev = { at, open, holderCpu, clientsCpu };
    process.stderr.write(
      `bench: ${LABEL[ep.path]} idle: ${p.seconds} s, ${open} open, ${p.perSecond}/s, RSS ${p.rssMB} MB, CPU holder ${p.holderCpu}%, clients ${p.clientsCpu}%\n`,
    );
  };
  // Bounded by the connect phase: cleared in finally whatever happens.
  const sampler = setInterval(() => sample(), smoke ? 1_000 : 5_000);
  try {
    let established = 0;
    for (const client of clients) {
      const line = await client.waitForLine((l) => l.includes('"established"'), (connectSeconds + 30) * 1000);
      const r = JSON.parse(line) as { established: number; errors: number; firstError: string };
      established += r.established;
      if (r.errors > 0) warn(`${LABEL[ep.path]} idle (${client.name}): ${r.errors} connections failed (first: ${r.firstError})`);
    }
    const tookSeconds = (performance.now() - t0) / 1000;
    lastIdleWindow = [lastIdleWindow[0], monotonicUs()];
    clearInterval(sampler);
    sample(established);
    if (established < config.idle) {
      warn(
        `${LABEL[ep.path]} idle: ${established} of ${config.idle} connections established ` +
          `(the clients stop at ${connectSeconds} s, or 60 s after their last successful connect)`,
      );
    }
    // Let the last handshakes and the allocations behind them settle.
    await sleep(smoke ? 200 : 1_000);
    const during = rss();
    return {
      requested: config.idle,
      established,
      rssBeforeMB: before / 2 ** 20,
      rssMB: during / 2 ** 20,
      bytesPerConnection: established > 0 ? (during - before) / established : NaN,
      connectSeconds: tookSeconds,
      process: ep.memoryWhat,
      progress,
    };
  } catch (err) {
    warn(`${LABEL[ep.path]} idle: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  } finally {
    clearInterval(sampler);
    for (const c of clients) c.closeStdin();
    await Promise.race([Promise.all(clients.map((c) => c.done)), sleep(30_000)]);
    await Promise.all(clients.map((c) => c.stop(2_000)));
  }
}

// ---- the run ------------------------------------------------------------------------

interface Measure {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  digits: number;
}

const MEASURES: Measure[] = [
  { key: 'recv_1500', label: 'throughput, stack receives (iperf3 -c), MTU 1500', unit: 'Gbit/s', better: 'higher', digits: 2 },
  { key: 'send_1500', label: 'throughput, stack sends (iperf3 -c -R), MTU 1500', unit: 'Gbit/s', better: 'higher', digits: 2 },
  { key: 'recv_max', label: 'throughput, stack receives, largest MTU', unit: 'Gbit/s', better: 'higher', digits: 2 },
  { key: 'send_max', label: 'throughput, stack sends, largest MTU', unit: 'Gbit/s', better: 'higher', digits: 2 },
  { key: 'crr', label: `short connections (connect, 1 B request, 1 B reply, close; ${config.concurrency} at a time)`, unit: 'conn/s', better: 'higher', digits: 0 },
  { key: 'rr_median', label: '1-byte round trip, median', unit: 'µs', better: 'lower', digits: 1 },
  { key: 'rr_p99', label: '1-byte round trip, p99', unit: 'µs', better: 'lower', digits: 1 },
];

type Samples = Map<string, Map<PathName, number[]>>;

function record(samples: Samples, key: string, p: PathName, value: number): void {
  let m = samples.get(key);
  if (!m) samples.set(key, (m = new Map()));
  let list = m.get(p);
  if (!list) m.set(p, (list = []));
  list.push(value);
}

const liveResources = new Set<Resources>();
async function cleanupAll(): Promise<void> {
  await Promise.all([...liveResources].map((r) => r.cleanup()));
}

async function withPhase<T>(body: (res: Resources) => Promise<T>): Promise<T> {
  const res = new Resources();
  liveResources.add(res);
  try {
    return await body(res);
  } finally {
    await res.cleanup();
    liveResources.delete(res);
  }
}

/** `--profile --only idle`: where the tuntcp server writes its .cpuprofile. */
const idleProfileDir = profileIdle
  ? path.join(REPO_ROOT, 'bench', 'results', `profile-idle-${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}`)
  : undefined;

async function setupPaths(res: Resources, paths: PathName[], mtuSetting: string, withRr: boolean): Promise<Endpoint[]> {
  const idlePorts = Math.max(1, Math.ceil(config.idle / IDLE_PER_PORT));
  const rrPorts = withRr ? Array.from({ length: idlePorts }, (_, i) => RR_PORT_BASE + i) : [];
  const eps: Endpoint[] = [];
  for (const p of paths) {
    const mtu = mtuSetting === 'max' ? MAX_MTU[p] : 1500;
    if (p === 'veth') eps.push(await setupVeth(res, mtu, rrPorts, withRr ? idlePorts : 1));
    else if (p === 'slirp') eps.push(await setupSlirp(res, mtu, rrPorts));
    else if (p === 'tuntcp-nooff') eps.push(await setupTuntcp(res, mtu, [], 1, undefined, false));
    else {
      if (idleProfileDir !== undefined) mkdirSync(idleProfileDir, { recursive: true });
      eps.push(await setupTuntcp(res, mtu, rrPorts, withRr ? idlePorts : 1, idleProfileDir));
    }
  }
  return eps;
}

function fmt(v: number, digits: number): string {
  if (!Number.isFinite(v)) return '—';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Ratios span from ×0.001 (memory) to ×20 (kernel throughput): two significant digits. */
function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return '—';
  const r = a / b;
  return `×${r >= 10 ? r.toFixed(0) : r.toPrecision(2)}`;
}

function cell(s: Spread | null, digits: number): string {
  if (s === null) return '—';
  if (s.rounds.length === 1) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

interface Report {
  date: string;
  machine: Record<string, unknown>;
  config: typeof config & { paths: PathName[]; smoke: boolean; quick: boolean };
  results: Record<string, { unit: string; paths: Partial<Record<PathName, Spread | null>> }>;
  idle: Partial<Record<PathName, IdleResult | null>>;
  mtus: Record<string, Partial<Record<PathName, number>>>;
  /** Stall counts of the parallel-streams runs, per direction and path (null: not measured). */
  parallel: ParallelStalls | null;
  warnings: string[];
  table: string;
}

function parKey(dir: 'recv' | 'send', n: number): string {
  return `par_${dir}_P${n}`;
}

interface StallCount {
  stalls: number;
  intervals: number;
  failed: number;
}
type ParallelStalls = Record<'recv' | 'send', Partial<Record<PathName, StallCount>>>;

function table(
  samples: Samples,
  idle: Partial<Record<PathName, IdleResult | null>>,
  paths: PathName[],
  parallel: ParallelStalls | null,
): { text: string; results: Report['results'] } {
  const results: Report['results'] = {};
  const hasSlirp = paths.includes('slirp');
  const head = ['measure', ...paths.map((p) => LABEL[p]), ...(hasSlirp ? paths.filter((p) => p !== 'slirp').map((p) => `${LABEL[p]} ÷ slirp4netns`) : [])];
  const rows: string[][] = [];
  for (const m of MEASURES) {
    const byPath = samples.get(m.key);
    if (!byPath) continue;
    const spreads: Partial<Record<PathName, Spread | null>> = {};
    for (const p of paths) spreads[p] = spread(byPath.get(p) ?? []);
    results[m.key] = { unit: m.unit, paths: spreads };
    const ratios = hasSlirp
      ? paths
          .filter((p) => p !== 'slirp')
          .map((p) => {
            return ratio(spreads[p]?.median ?? NaN, spreads.slirp?.median ?? NaN);
          })
      : [];
    rows.push([`${m.label} [${m.unit}${m.better === 'lower' ? ', lower is better' : ''}]`, ...paths.map((p) => cell(spreads[p] ?? null, m.digits)), ...ratios]);
  }
  // The issue's large-segment target may be met "at 65535, or with TSO/GRO
  // through IFF_VNET_HDR": tuntcp at MTU 1500 with offload (its default)
  // against slirp4netns at its largest MTU.
  if (hasSlirp && paths.includes('tuntcp')) {
    for (const [dir, what] of [['recv', 'receives'], ['send', 'sends']] as const) {
      const ours = spread(samples.get(`${dir}_1500`)?.get('tuntcp') ?? []);
      const theirs = spread(samples.get(`${dir}_max`)?.get('slirp') ?? []);
      if (ours === null || theirs === null) continue;
      rows.push([
        `throughput, stack ${what}: tuntcp at MTU 1500 with TSO/GRO vs slirp4netns at its largest MTU [Gbit/s]`,
        ...paths.map((p) => (p === 'tuntcp' ? cell(ours, 2) : p === 'slirp' ? cell(theirs, 2) : '')),
        ...paths.filter((p) => p !== 'slirp').map((p) => (p === 'tuntcp' ? ratio(ours.median, theirs.median) : '')),
      ]);
    }
  }
  if (parallel !== null) {
    const maxP = config.parallel[config.parallel.length - 1]!;
    const minP = config.parallel[0]!;
    for (const dir of ['recv', 'send'] as const) {
      const what = dir === 'recv' ? 'stack receives' : 'stack sends';
      const med = (p: PathName, n: number): number => spread(samples.get(parKey(dir, n))?.get(p) ?? [])?.median ?? NaN;
      for (const n of config.parallel) {
        const key = parKey(dir, n);
        const spreads: Partial<Record<PathName, Spread | null>> = {};
        for (const p of paths) spreads[p] = spread(samples.get(key)?.get(p) ?? []);
        results[key] = { unit: 'Gbit/s', paths: spreads };
        const ratios = hasSlirp ? paths.filter((p) => p !== 'slirp').map((p) => ratio(spreads[p]?.median ?? NaN, spreads.slirp?.median ?? NaN)) : [];
        rows.push([`parallel streams, ${what}, iperf3 -P ${n}, aggregate, MTU 1500 [Gbit/s]`, ...paths.map((p) => cell(spreads[p] ?? null, 2)), ...ratios]);
      }
      if (maxP !== minP) {
        rows.push([
          `parallel streams, ${what}: P=${maxP} ÷ P=${minP} (target: within 10% of 1)`,
          ...paths.map((p) => ratio(med(p, maxP), med(p, minP))),
          ...(hasSlirp ? paths.filter((p) => p !== 'slirp').map(() => '') : []),
        ]);
      }
      rows.push([
        `parallel streams, ${what}: stalls (${PARALLEL_INTERVAL_S} s intervals with 0 bytes, of all, over every P and round)`,
        ...paths.map((p) => {
          const s = parallel[dir][p];
          return s ? `${s.stalls} of ${s.intervals}${s.failed > 0 ? ` (${s.failed} runs failed)` : ''}` : '—';
        }),
        ...(hasSlirp ? paths.filter((p) => p !== 'slirp').map(() => '') : []),
      ]);
    }
  }
  if (Object.keys(idle).length > 0) {
    const row = (label: string, f: (r: IdleResult) => number, digits: number): void => {
      const vals = paths.map((p) => idle[p] ?? null);
      const ratios = hasSlirp
        ? paths
            .filter((p) => p !== 'slirp')
            .map((p) => {
              const a = idle[p];
              const b = idle.slirp;
              return a && b ? ratio(f(a), f(b)) : '—';
            })
        : [];
      rows.push([label, ...vals.map((v) => (v ? fmt(f(v), digits) : '—')), ...ratios]);
    };
    row(`idle connections established (of ${config.idle.toLocaleString('en-US')})`, (r) => r.established, 0);
    row('idle: RSS of the process holding them [MB] ¹', (r) => r.rssMB, 1);
    row('idle: RSS growth per connection [bytes] ¹', (r) => r.bytesPerConnection, 0);
    row('idle: time to establish them [s, lower is better]', (r) => r.connectSeconds, 1);
  }
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const text = [line(head), line(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
  return { text, results };
}

function machine(): Record<string, unknown> {
  const version = (cmd: string, args: string[]): string => {
    try {
      return run(cmd, args).trim().split('\n')[0] ?? '';
    } catch {
      return 'n/a';
    }
  };
  return {
    kernel: os.release(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '',
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    iperf3: version('iperf3', ['--version']),
    slirp4netns: which('slirp4netns') ? version('slirp4netns', ['--version']) : 'not installed',
    loadavgAtStart: os.loadavg(),
  };
}

async function benchmark(paths: PathName[]): Promise<void> {
  const started = new Date();
  const info = machine();
  const samples: Samples = new Map();
  const idle: Partial<Record<PathName, IdleResult | null>> = {};
  const mtus: Report['mtus'] = {};
  let parallel: ParallelStalls | null = null;
  process.stderr.write(
    `bench: ${paths.map((p) => LABEL[p]).join(', ')}; ${config.rounds} round(s); ` +
      `${smoke ? 'iperf3 -n 16M' : `iperf3 -t ${config.iperfSeconds}`}; idle ${config.idle}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  for (const mtuSetting of config.mtus) {
    const std = mtuSetting === '1500';
    // Only throughput is measured at the largest MTU.
    if (!std && !only.has('throughput')) continue;
    await withPhase(async (res) => {
      const eps = await setupPaths(res, paths, mtuSetting, std);
      mtus[mtuSetting] = Object.fromEntries(eps.map((e) => [e.path, e.mtu]));
      const suffix = std ? '1500' : 'max';
      const anyRounds = only.has('throughput') || only.has('parallel') || only.has('rr');
      for (let round = 1; anyRounds && round <= config.rounds; round++) {
        for (const ep of eps) {
          if (!only.has('throughput')) break;
          process.stderr.write(`bench: round ${round}/${config.rounds}, ${LABEL[ep.path]}, mtu ${ep.mtu}: throughput\n`);
          record(samples, `recv_${suffix}`, ep.path, await iperf3(res, ep, false));
          record(samples, `send_${suffix}`, ep.path, await iperf3(res, ep, true));
        }
        if (!std) continue;
        if (config.parallel.length > 0 && only.has('parallel')) {
          parallel ??= { recv: {}, send: {} };
          for (const ep of eps) {
            process.stderr.write(`bench: round ${round}/${config.rounds}, ${LABEL[ep.path]}: parallel streams -P ${config.parallel.join(',')}\n`);
            for (const n of config.parallel) {
              for (const reverse of [false, true]) {
                const dir = reverse ? 'send' : 'recv';
                const r = await iperf3Parallel(res, ep, reverse, n);
                record(samples, parKey(dir, n), ep.path, r.gbps);
                const c = (parallel[dir][ep.path] ??= { stalls: 0, intervals: 0, failed: 0 });
                if (Number.isFinite(r.gbps)) {
                  c.stalls += r.stalls;
                  c.intervals += r.intervals;
                } else {
                  c.failed++;
                }
              }
            }
          }
        }
        for (const ep of eps) {
          if (!only.has('rr')) break;
          if (THROUGHPUT_ONLY.has(ep.path)) continue;
          process.stderr.write(`bench: round ${round}/${config.rounds}, ${LABEL[ep.path]}: short connections, round trip\n`);
          record(samples, 'crr', ep.path, await shortConnections(res, ep));
          const rt = await roundTrip(res, ep);
          record(samples, 'rr_median', ep.path, rt.median);
          record(samples, 'rr_p99', ep.path, rt.p99);
        }
      }
      if (std && only.has('idle')) {
        for (const ep of eps) {
          if (THROUGHPUT_ONLY.has(ep.path)) continue;
          process.stderr.write(`bench: ${LABEL[ep.path]}: ${config.idle} idle connections\n`);
          idle[ep.path] = await idleConnections(res, ep);
          if (idleProfileDir !== undefined && ep.path === 'tuntcp') await summarizeIdleProfile(ep, idle[ep.path] ?? null);
        }
      }
    });
  }
  info['loadavgAtEnd'] = os.loadavg();
  const { text, results } = table(samples, idle, paths, parallel);
  const notes = [
    '',
    `Medians of ${config.rounds} round(s), (min–max) beside them; the rounds interleave the paths. ` +
      `Largest MTU: ${paths.map((p) => `${LABEL[p]} ${MAX_MTU[p]}`).join(', ')}.`,
    `tuntcp's buffers: ${values.rcvbuf} B receive, ${values.sndbuf} B send per connection (--rcvbuf/--sndbuf; the kernel's autotune from 128 KiB up).`,
    '¹ ' + paths.map((p) => `${LABEL[p]}: ${idle[p]?.process ?? 'n/a'}`).join('; ') + '.' +
      ` Each process may hold ${NOFILE.toLocaleString('en-US')} descriptors (the hard limit here): slirp4netns needs one per connection, tuntcp none.`,
    `Load average at start ${(info['loadavgAtStart'] as number[]).map((l) => l.toFixed(2)).join(' ')}, at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} CPUs).`,
  ].join('\n');
  console.log(text + '\n' + notes);
  if (warnings.length > 0) console.log(`\n${warnings.length} warning(s):\n` + warnings.map((w) => `- ${w}`).join('\n'));
  const report: Report = {
    date: started.toISOString(),
    machine: info,
    config: { ...config, paths, smoke, quick },
    results,
    idle,
    mtus,
    parallel,
    warnings,
    table: text + '\n' + notes,
  };
  const out = values.out ?? path.join(REPO_ROOT, 'bench', 'results', `${started.toISOString().slice(0, 19).replace(/:/g, '-')}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  process.stderr.write(`bench: results written to ${path.relative(process.cwd(), out) || out}\n`);
}

/**
 * `--profile --only idle`: stops the tuntcp server (V8 writes its profile on
 * exit) and prints the top self-time functions of the connect phase only.
 */
async function summarizeIdleProfile(ep: Endpoint, result: IdleResult | null): Promise<void> {
  if (idleProfileDir === undefined || ep.proc === undefined) return;
  await ep.proc.stop(30_000);
  const file = readdirSync(idleProfileDir).find((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0');
  if (file === undefined) {
    warn(`no .cpuprofile written in ${idleProfileDir}`);
    return;
  }
  const summary = summarizeProfile(readProfile(path.join(idleProfileDir, file)), 20, lastIdleWindow);
  console.log(
    `\n### tuntcp while ${result?.established ?? '?'} idle connections open (${fmt(result?.connectSeconds ?? NaN, 1)} s; samples of the connect phase only)\n`,
  );
  console.log(formatSummary(summary));
  process.stderr.write(`bench: idle profile in ${path.relative(process.cwd(), path.join(idleProfileDir, file))}\n`);
}

interface ServerStats {
  tun: { packetsRead: number; batches: number; packetsWritten: number; bytesRead: number; bytesWritten: number; writeQueued: number; writeDropped: number };
  tcp: { segmentsIn: number; segmentsOut: number; retransmittedSegments: number; delayedAcks: number };
}

/** The packet counts behind a profile: how big the batches are, how many packets each way. */
function describeStats(s: ServerStats): string {
  const t = s.tun;
  return [
    `device: ${t.packetsRead.toLocaleString('en-US')} packets read in ${t.batches.toLocaleString('en-US')} batches ` +
      `(${fmt(t.packetsRead / Math.max(1, t.batches), 1)} per batch, ${fmt(t.bytesRead / Math.max(1, t.packetsRead), 0)} B each); ` +
      `${t.packetsWritten.toLocaleString('en-US')} written, one write(2) each (${fmt(t.bytesWritten / Math.max(1, t.packetsWritten), 0)} B each); ` +
      `${t.writeQueued} met EAGAIN, ${t.writeDropped} dropped`,
    `tcp: ${s.tcp.segmentsIn.toLocaleString('en-US')} segments in, ${s.tcp.segmentsOut.toLocaleString('en-US')} out ` +
      `(${fmt(s.tcp.segmentsOut / Math.max(1, s.tcp.segmentsIn), 2)} out per in), ${s.tcp.retransmittedSegments} retransmitted, ${s.tcp.delayedAcks} delayed ACKs`,
  ].join('\n');
}

/** tuntcp under node --cpu-prof: one profile while it receives, one while it sends. */
async function profile(): Promise<void> {
  const started = new Date();
  const dir = path.join(REPO_ROOT, 'bench', 'results', `profile-${started.toISOString().slice(0, 19).replace(/:/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  const mtuSetting = config.mtus[0] ?? '1500';
  const summaries: Record<string, ProfileSummary & { gbps: number; file: string; stats: ServerStats | null; cpu: { user: number; system: number; wall: number } | null }> = {};
  const crr = values['profile-crr'];
  for (const reverse of crr ? [false] : [false, true]) {
    const name = crr ? 'crr' : reverse ? 'sends' : 'receives';
    const sub = path.join(dir, name);
    mkdirSync(sub, { recursive: true });
    let gbps = NaN;
    let window: [number, number] = [0, Infinity];
    let stats: ServerStats | null = null;
    // The tuntcp process's own CPU: system time is the kernel working inside
    // our read(2)/write(2) calls on the TUN, which the JS profile cannot split out.
    let cpu: { user: number; system: number; wall: number } | null = null;
    await withPhase(async (res) => {
      const ep = await setupTuntcp(res, mtuSetting === 'max' ? MAX_MTU.tuntcp : 1500, crr ? [RR_PORT_BASE] : [], 1, sub);
      process.stderr.write(`bench: profiling tuntcp while it ${name} (iperf3 -t ${config.iperfSeconds}${reverse ? ' -R' : ''})\n`);
      // CLOCK_MONOTONIC in microseconds, the clock of the profile's timestamps.
      const from = Number(process.hrtime.bigint() / 1000n);
      const cpuBefore = cpuSeconds(ep.proc.pid);
      // --profile-crr: the figure is conn/s, printed where Gbit/s would be.
      gbps = crr ? await shortConnections(res, ep) : await iperf3(res, ep, reverse);
      const cpuAfter = cpuSeconds(ep.proc.pid);
      window = [from, Number(process.hrtime.bigint() / 1000n)];
      if (cpuBefore && cpuAfter) {
        cpu = { user: cpuAfter.user - cpuBefore.user, system: cpuAfter.system - cpuBefore.system, wall: (window[1] - window[0]) / 1e6 };
      }
      // SIGTERM: the server prints its counters, closes its stack and exits, and V8 writes the profile.
      await ep.proc.stop(10_000);
      const line = ep.proc.stdout().split('\n').find((l) => l.startsWith('{"stats"'));
      if (line !== undefined) stats = (JSON.parse(line) as { stats: ServerStats }).stats;
    });
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main
    // thread, where the stack runs (tsx's loader hooks have a thread of their own).
    const file = readdirSync(sub).find((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0');
    if (file === undefined) {
      warn(`no .cpuprofile written in ${sub}`);
      continue;
    }
    const summary = summarizeProfile(readProfile(path.join(sub, file)), 15, window);
    summaries[name] = { ...summary, gbps, file: path.relative(REPO_ROOT, path.join(sub, file)), stats, cpu };
    console.log(`\n### tuntcp ${name} (${fmt(gbps, 2)} Gbit/s, MTU ${mtuSetting}; samples during the iperf3 run only)\n`);
    if (cpu !== null) {
      const c: { user: number; system: number; wall: number } = cpu;
      console.log(`process CPU during the run: ${fmt(c.user, 2)} s user + ${fmt(c.system, 2)} s system in ${fmt(c.wall, 2)} s (${fmt((100 * (c.user + c.system)) / c.wall, 0)}% of one core; system ${fmt((100 * c.system) / Math.max(1e-9, c.user + c.system), 0)}% of it)`);
    }
    if (stats !== null) console.log(describeStats(stats) + '\n');
    console.log(formatSummary(summary));
  }
  const out = values.out ?? path.join(dir, 'summary.json');
  writeFileSync(out, JSON.stringify({ date: started.toISOString(), machine: machine(), summaries, warnings }, null, 2) + '\n');
  process.stderr.write(`bench: profiles and summary in ${path.relative(process.cwd(), dir)}\n`);
}

// ---- entry ---------------------------------------------------------------------------

const paths = checkPrerequisites();
let interrupted = false;
const onSignal = (signal: NodeJS.Signals): void => {
  if (interrupted) return;
  interrupted = true;
  process.stderr.write(`bench: ${signal}: cleaning up\n`);
  void cleanupAll().finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// The whole run is bounded, whatever hangs.
setTimeout(() => {
  process.stderr.write(`bench: still running after ${config.maxMinutes} minutes: stopping\n`);
  void cleanupAll().finally(() => process.exit(3));
}, config.maxMinutes * 60_000).unref();

try {
  if (values.profile && !profileIdle) await profile();
  else await benchmark(paths);
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  await cleanupAll();
  process.exit(1);
}
await cleanupAll();
process.exit(0);
