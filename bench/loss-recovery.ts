/**
 * Loss recovery benchmark: one fixed download (curl, the kernel's TCP as
 * receiver) at several loss rates with a fixed one-way delay, measured
 * side by side in one run for
 *
 *   tuntcp      our stack on a TUN, sending, behind our impairment layer
 *               (newreno, cubic);
 *   kernel/tun  two kernel endpoints in two namespaces, each on a TUN, with
 *               this process relaying packets between the TUNs through the
 *               SAME impairment layer (reno, cubic, and bbr — the default
 *               congestion control of a new namespace on this machine);
 *   kernel/veth two kernel endpoints on a veth pair, loss by an nftables
 *               random drop in both receivers' input hooks, and NO delay:
 *               this kernel has no netem (reno, cubic).
 *
 *   npx tsx bench/loss-recovery.ts [--mb 10] [--loss 0,1,5] [--delay 10ms] [--timeout 90]
 *   npm run bench:loss
 *
 * Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), /dev/net/tun, ip, nft,
 * curl, python3, nstat. Everything runs inside namespaces this script
 * creates and removes again, also on failure or Ctrl-C.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImpairedLink } from '../src/link/impair.ts';
import { parseImpairSpec } from '../src/link/impair-spec.ts';
import { realTimeScheduler } from '../src/link/scheduler.ts';
import { patternSha256 } from '../src/services/pattern.ts';
import { startHttp } from '../src/services/http.ts';
import { createNet } from '../src/socket/net.ts';
import { openTunStack } from '../src/stack/tun-stack.ts';
import { setupNamespace, teardownNamespace } from '../src/tun/namespace.ts';
import { checkTunPrerequisites, findExecutable } from '../src/tun/prerequisites.ts';
import { TunDevice } from '../src/tun/tun-device.ts';

const execFileAsync = promisify(execFile);

/**
 * The kernel's sender: a minimal HTTP/1.0 file server that sets the
 * congestion control per socket (TCP_CONGESTION). A namespace other than
 * the initial one may only make an algorithm of the host's
 * tcp_allowed_congestion_control its default (here: not cubic), while a
 * privileged socket may pick any loaded one.
 */
const KERNEL_SERVER = `
import socket, sys
cc, addr, port, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    req = b''
    while b'\\r\\n\\r\\n' not in req:
        chunk = conn.recv(4096)
        if not chunk:
            break
        req += chunk
    with open(path, 'rb') as f:
        size = f.seek(0, 2)
        f.seek(0)
        conn.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n' % size)
        conn.sendfile(f)
    conn.close()
`;

interface Options {
  mb: number;
  losses: number[];
  delay: string;
  timeoutS: number;
  seed: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { mb: 10, losses: [0, 1, 5], delay: '10ms', timeoutS: 90, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const need = (): string => {
      if (v === undefined) throw new Error(`${a} needs a value`);
      i++;
      return v;
    };
    if (a === '--mb') o.mb = Number(need());
    else if (a === '--loss') o.losses = need().split(',').map(Number);
    else if (a === '--delay') o.delay = need();
    else if (a === '--timeout') o.timeoutS = Number(need());
    else if (a === '--seed') o.seed = Number(need());
    else if (a === '--help' || a === '-h') {
      console.log('usage: npx tsx bench/loss-recovery.ts [--mb 10] [--loss 0,1,5] [--delay 10ms] [--timeout 90] [--seed 1]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (!(o.mb > 0) || o.losses.some((l) => !(l >= 0 && l < 100)) || !(o.timeoutS > 0)) throw new Error('bad --mb, --loss or --timeout');
  parseImpairSpec(`delay=${o.delay}`);
  return o;
}

interface Row {
  stack: string;
  cc: string;
  loss: number;
  delay: string;
  seconds: number | null;
  goodputMbps: number | null;
  retransmittedBytes: number;
  /** Where the count is segments x MSS rather than bytes (the kernel counts segments). */
  bytesApprox: boolean;
  rtos: number;
  fastOrSack: number;
  note: string;
}

// ---- processes and namespaces, all ours, all removed ----------------------------

const children = new Set<ChildProcess>();
const namespaces = new Set<string>();
let counter = 0;
const nsName = (what: string): string => `tt-bench-${what}-${process.pid}-${++counter}`;

function cleanupAll(): void {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
  for (const ns of namespaces) {
    try {
      teardownNamespace(ns);
    } catch {
      try {
        execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
      } catch {
        // gone already
      }
    }
  }
  namespaces.clear();
}
process.on('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    cleanupAll();
    process.exit(130);
  });
}

async function inNs(ns: string, cmd: string[], timeoutMs = 10_000): Promise<string> {
  const { stdout } = await execFileAsync('ip', ['netns', 'exec', ns, ...cmd], { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout;
}

function addNs(name: string): void {
  execFileSync('ip', ['netns', 'add', name], { stdio: 'ignore' });
  namespaces.add(name);
}

function removeNs(name: string): void {
  try {
    teardownNamespace(name);
  } catch {
    execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
  }
  namespaces.delete(name);
}

/** Starts a long-running server inside a namespace; killed by PID. */
function startInNs(ns: string, cmd: string[]): ChildProcess & { errors: () => string } {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  children.add(child);
  child.on('exit', () => children.delete(child));
  return Object.assign(child, { errors: () => err });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
}

/** curl downloads URL inside `ns`, piping it into sha256sum; returns seconds and the hash. */
async function curlDownload(ns: string, url: string, timeoutS: number): Promise<{ seconds: number | null; sha: string; note: string }> {
  const started = performance.now();
  try {
    const out = await inNs(ns, ['sh', '-c', `curl -sS --max-time ${timeoutS} ${url} | sha256sum`], (timeoutS + 5) * 1000);
    return { seconds: (performance.now() - started) / 1000, sha: out.split(' ')[0] ?? '', note: '' };
  } catch (err) {
    const e = err as { stderr?: unknown };
    return { seconds: null, sha: '', note: `curl failed: ${String(e.stderr ?? err).split('\n')[0]}` };
  }
}

async function nstat(ns: string): Promise<Record<string, number>> {
  const out = await inNs(ns, ['nstat', '-az']);
  const r: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^(\S+)\s+(\d+)/.exec(line);
    if (m) r[m[1]!] = Number(m[2]);
  }
  return r;
}

async function waitForListener(ns: string, port: number, server: ChildProcess & { errors: () => string }): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await inNs(ns, ['ss', '-Hltn', `sport = :${port}`])).includes(`:${port}`)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no listener on ${port} in ${ns}: ${server.errors().trim()}`);
}

function row(stack: string, cc: string, loss: number, delay: string, bytes: number, seconds: number | null, extra: Omit<Row, 'stack' | 'cc' | 'loss' | 'delay' | 'seconds' | 'goodputMbps'>): Row {
  return { stack, cc, loss, delay, seconds, goodputMbps: seconds === null ? null : (bytes * 8) / seconds / 1e6, ...extra };
}

// ---- the three set-ups -------------------------------------------------------------

async function runTuntcp(o: Options, loss: number, cc: 'newreno' | 'cubic'): Promise<Row> {
  const bytes = Math.round(o.mb * 1024 * 1024);
  const netns = nsName('ours');
  namespaces.add(netns);
  const stack = await openTunStack({
    netns,
    dev: 'tun0',
    address: '10.0.0.2',
    kernelAddress: '10.0.0.1/24',
    mtu: 1500,
    txqueuelen: 1000,
    impair: `${loss > 0 ? `loss=${loss}%,` : ''}delay=${o.delay},seed=${o.seed}`,
    tcp: { congestionControl: cc, sndBuf: 8 << 20, rcvBuf: 1 << 20 },
  });
  try {
    startHttp(createNet(stack.driver), { port: 80, stats: () => ({}) });
    const r = await curlDownload(netns, `http://10.0.0.2/bytes/${bytes}`, o.timeoutS);
    const s = stack.tcp.stats;
    const ok = r.seconds !== null && r.sha === patternSha256(bytes);
    return row('tuntcp', cc, loss, o.delay, bytes, ok ? r.seconds : null, {
      retransmittedBytes: s.retransmittedBytes,
      bytesApprox: false,
      rtos: s.rtoTimeouts,
      fastOrSack: s.sackRecoveries > 0 ? s.sackRecoveries : s.fastRetransmits,
      note: ok ? `undos ${s.recoveryUndos}` : r.note || 'hash mismatch',
    });
  } finally {
    await stack.close();
    namespaces.delete(netns);
  }
}

/**
 * Two kernels, each on a TUN in its own namespace; this process relays
 * between the two TUNs through the same ImpairedLink our stack sits behind.
 */
async function runKernelTun(o: Options, loss: number, cc: string, file: string, fileSha: string, bytes: number): Promise<Row> {
  const client = nsName('kcli');
  const server = nsName('ksrv');
  namespaces.add(client);
  namespaces.add(server);
  setupNamespace({ netns: client, dev: 'tun0', kernelAddr: '10.7.0.1/24', mtu: 1500, txqueuelen: 1000 });
  setupNamespace({ netns: server, dev: 'tun0', kernelAddr: '10.7.0.2/24', mtu: 1500, txqueuelen: 1000 });
  const tunC = TunDevice.open({ name: 'tun0', netns: client });
  const tunS = TunDevice.open({ name: 'tun0', netns: server });
  const spec = parseImpairSpec(`${loss > 0 ? `loss=${loss}%,` : ''}delay=${o.delay},seed=${o.seed}`);
  // Wrapped around the client's TUN: what the client sends is impaired on
  // the way in, what it receives on the way out — once each way, as for
  // our stack.
  const wire = new ImpairedLink(tunC, realTimeScheduler, spec);
  wire.onPackets((batch) => tunS.sendBatch(batch));
  tunS.onPackets((batch) => wire.sendBatch(batch));
  let http: (ChildProcess & { errors: () => string }) | undefined;
  try {
    http = startInNs(server, ['python3', '-c', KERNEL_SERVER, cc, '10.7.0.2', '8000', file]);
    await waitForListener(server, 8000, http);
    const r = await curlDownload(client, `http://10.7.0.2:8000/${path.basename(file)}`, o.timeoutS);
    const k = await nstat(server);
    const drops = Number((await inNs(server, ['cat', '/sys/class/net/tun0/statistics/tx_dropped'])).trim()) +
      Number((await inNs(client, ['cat', '/sys/class/net/tun0/statistics/tx_dropped'])).trim());
    const ok = r.seconds !== null && r.sha === fileSha;
    return row('kernel/tun', cc, loss, o.delay, bytes, ok ? r.seconds : null, {
      retransmittedBytes: (k['TcpRetransSegs'] ?? 0) * 1448,
      bytesApprox: true,
      rtos: k['TcpExtTCPTimeouts'] ?? 0,
      fastOrSack: k['TcpExtTCPSackRecovery'] ?? 0,
      note: (ok ? '' : r.note || 'hash mismatch') + `TLP ${k['TcpExtTCPLossProbes'] ?? 0}${drops > 0 ? `, TUN queue drops ${drops}` : ''}`,
    });
  } finally {
    if (http) await stopChild(http);
    wire.close();
    tunS.close();
    removeNs(client);
    removeNs(server);
  }
}

/** Two kernels on a veth pair; loss = nftables random drop in each input hook; no delay. */
async function runKernelVeth(o: Options, loss: number, cc: string, file: string, fileSha: string, bytes: number): Promise<Row> {
  const client = nsName('vcli');
  const server = nsName('vsrv');
  addNs(client);
  addNs(server);
  let http: (ChildProcess & { errors: () => string }) | undefined;
  try {
    await execFileAsync('ip', ['link', 'add', 'veth-bc', 'netns', client, 'type', 'veth', 'peer', 'name', 'veth-bs', 'netns', server]);
    const setup: [string, string[]][] = [
      [client, ['ip', 'addr', 'add', '10.8.0.1/24', 'dev', 'veth-bc']],
      [server, ['ip', 'addr', 'add', '10.8.0.2/24', 'dev', 'veth-bs']],
    ];
    for (const [ns, dev] of [[client, 'veth-bc'], [server, 'veth-bs']] as const) {
      // One segment per skb, so that a drop is one segment (no ethtool here).
      setup.push([ns, ['ip', 'link', 'set', 'dev', dev, 'gso_max_segs', '1', 'up']], [ns, ['ip', 'link', 'set', 'lo', 'up']]);
      if (loss > 0) {
        // The input hook of the receiver: a drop there is lost on the wire
        // for the sender. (An output-hook drop is not: netfilter reports it
        // to the sending TCP, which sends the segment again at once.)
        setup.push(
          [ns, ['nft', 'add', 'table', 'inet', 'bench']],
          [ns, ['nft', 'add', 'chain', 'inet', 'bench', 'in', '{ type filter hook input priority 0; }']],
          [ns, ['nft', 'add', 'rule', 'inet', 'bench', 'in', 'meta', 'l4proto', 'tcp', 'numgen', 'random', 'mod', '10000', '<', String(Math.round(loss * 100)), 'drop']],
        );
      }
    }
    for (const [ns, cmd] of setup) await inNs(ns, cmd);
    http = startInNs(server, ['python3', '-c', KERNEL_SERVER, cc, '10.8.0.2', '8000', file]);
    await waitForListener(server, 8000, http);
    const r = await curlDownload(client, `http://10.8.0.2:8000/${path.basename(file)}`, o.timeoutS);
    const k = await nstat(server);
    const ok = r.seconds !== null && r.sha === fileSha;
    return row('kernel/veth', cc, loss, '0 (no netem)', bytes, ok ? r.seconds : null, {
      retransmittedBytes: (k['TcpRetransSegs'] ?? 0) * 1448,
      bytesApprox: true,
      rtos: k['TcpExtTCPTimeouts'] ?? 0,
      fastOrSack: k['TcpExtTCPSackRecovery'] ?? 0,
      note: (ok ? '' : r.note || 'hash mismatch') + `TLP ${k['TcpExtTCPLossProbes'] ?? 0}`,
    });
  } finally {
    if (http) await stopChild(http);
    removeNs(client);
    removeNs(server);
  }
}

// ---- the table ------------------------------------------------------------------------

function table(rows: Row[], o: Options): string {
  const lines = [
    `${o.mb} MB download (curl receives), loss each way, one-way delay ${o.delay} each way unless said, seed ${o.seed}`,
    '',
    '| stack | cc | loss | delay | time s | goodput Mbit/s | retransmitted MB | RTOs | recoveries | note |',
    '|---|---|---:|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.stack} | ${r.cc} | ${r.loss}% | ${r.delay} | ${r.seconds === null ? 'failed' : r.seconds.toFixed(1)} | ` +
        `${r.goodputMbps === null ? '-' : r.goodputMbps.toFixed(1)} | ${r.bytesApprox ? '~' : ''}${(r.retransmittedBytes / 1e6).toFixed(2)} | ${r.rtos} | ${r.fastOrSack} | ${r.note} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const problems = checkTunPrerequisites();
  for (const tool of ['nft', 'curl', 'python3', 'nstat']) if (findExecutable(tool) === undefined) problems.push(`${tool} is not installed`);
  if (problems.length > 0) {
    console.error(`bench/loss-recovery: cannot run: ${problems.join('; ')}`);
    process.exit(2);
  }
  const bytes = Math.round(o.mb * 1024 * 1024);
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-bench-loss-'));
  const file = path.join(dir, 'payload.bin');
  const data = Buffer.alloc(bytes);
  for (let i = 0, x = 2463534242; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  writeFileSync(file, data);
  const fileSha = createHash('sha256').update(data).digest('hex');
  const rows: Row[] = [];
  try {
    for (const loss of o.losses) {
      for (const cc of ['newreno', 'cubic'] as const) {
        rows.push(await runTuntcp(o, loss, cc));
        console.error(table(rows.slice(-1), o).split('\n').at(-1));
      }
      for (const cc of ['reno', 'cubic', 'bbr']) {
        rows.push(await runKernelTun(o, loss, cc, file, fileSha, bytes));
        console.error(table(rows.slice(-1), o).split('\n').at(-1));
      }
      for (const cc of ['reno', 'cubic']) {
        rows.push(await runKernelVeth(o, loss, cc, file, fileSha, bytes));
        console.error(table(rows.slice(-1), o).split('\n').at(-1));
      }
    }
  } finally {
    cleanupAll();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(table(rows, o));
}

main().catch((err: unknown) => {
  cleanupAll();
  console.error(`bench/loss-recovery: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
