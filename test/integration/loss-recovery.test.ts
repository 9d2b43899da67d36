/**
 * Loss recovery over a real TUN, against the kernel's TCP (curl) in a
 * namespace of this file's own:
 *
 * 1. our impairment layer between the TUN and the stack loses, delays,
 *    reorders and duplicates packets both ways: a 50 MB download and a 50 MB
 *    upload arrive byte-exact, and our stats show fast retransmits and SACK
 *    recovery (the kernel negotiates SACK), not only timeouts;
 * 2. an nftables random-drop rule drops packets in the kernel itself, both
 *    ways, between curl's namespace and the TUN's: the kernel's own TCP has
 *    to recover too.
 *
 * Every peer is an asynchronous child process: the stack runs on this event
 * loop, so a synchronous spawn of a client would deadlock it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternSha256 } from '../../src/services/pattern.ts';
import { startHttp } from '../../src/services/http.ts';
import { createNet } from '../../src/socket/net.ts';
import { openTunStack, type TunStack } from '../../src/stack/tun-stack.ts';
import type { TcpStats } from '../../src/tcp/stats.ts';
import { netnsExists, removeNetns, uniqueNetnsName } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import { killAllPeers, makeRandomFile, runInNetns, type PeerResult } from '../helpers/peers.ts';

const execFileAsync = promisify(execFile);

/** A command in the root namespace (only `ip netns add`), asynchronous like every peer. */
async function runCommand(cmd: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await execFileAsync(cmd[0]!, cmd.slice(1), { timeout: 5_000 });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code?: unknown; stderr?: unknown };
    return { code: typeof e.code === 'number' ? e.code : 1, stderr: String(e.stderr ?? err) };
  }
}

const STACK = '10.0.0.2';
const KERNEL = '10.0.0.1';
/** The veth pair between the TUN's namespace (router) and curl's (client). */
const ROUTER = '10.9.0.1';
const CLIENT = '10.9.0.2';
const PORT = 80;
const BIG = 50 * 1024 * 1024;
const IMPAIR = 'loss=2%,delay=5ms,reorder=10%,dup=1%,seed=7';
/** Percent dropped by nftables, each way. */
const NFT_DROP = 2;

const mbps = (bytes: number, ms: number): string => `${((bytes * 8) / (ms * 1000)).toFixed(0)} Mbit/s`;

function summary(s: TcpStats): string {
  return `fast retransmits ${s.fastRetransmits} (SACK recoveries ${s.sackRecoveries}), RTOs ${s.rtoTimeouts}, retransmitted ${(s.retransmittedBytes / 1e6).toFixed(2)} MB in ${s.retransmittedSegments} segments`;
}

interface Bench {
  netns: string;
  dir: string;
  stack: TunStack | undefined;
  upload: string;
  uploadHash: string;
}

/** A stack on a TUN in a new namespace, serving /bytes/N and POST /sha256 with Node's http. */
async function setUp(purpose: string, impair: string | undefined, offload = true): Promise<Bench> {
  const netns = uniqueNetnsName(purpose);
  const dir = mkdtempSync(path.join(tmpdir(), `tuntcp-${purpose}-`));
  const bench: Bench = { netns, dir, stack: undefined, upload: path.join(dir, 'upload.bin'), uploadHash: '' };
  bench.stack = await openTunStack({
    netns,
    dev: 'tun0',
    address: STACK,
    kernelAddress: `${KERNEL}/24`,
    mtu: 1500,
    txqueuelen: 1000,
    impair,
    offload,
    // Room for a few round trips of data at this RTT: the window, not the
    // buffer, should be what loss recovery works with.
    tcp: { rcvBuf: 1 << 20, sndBuf: 1 << 20 },
  });
  const stack = bench.stack;
  startHttp(createNet(stack.driver), { port: PORT, stats: () => ({ tcp: stack.tcp.stats }) });
  bench.uploadHash = await makeRandomFile(bench.upload, BIG);
  return bench;
}

async function tearDown(b: Bench): Promise<void> {
  await killAllPeers();
  await b.stack?.close();
  removeNetns(b.netns);
  rmSync(b.dir, { recursive: true, force: true });
  expect(netnsExists(b.netns)).toBe(false);
}

/** curl downloads /bytes/BIG and pipes it into sha256sum, inside the namespace. */
function download(netns: string, timeoutMs: number): Promise<PeerResult> {
  return runInNetns(
    netns,
    ['sh', '-c', `curl -sS --max-time ${timeoutMs / 1000 - 2} http://${STACK}:${PORT}/bytes/${BIG} | sha256sum`],
    { timeoutMs },
  );
}

function upload(netns: string, file: string, timeoutMs: number): Promise<PeerResult> {
  return runInNetns(
    netns,
    ['curl', '-sS', '--max-time', String(timeoutMs / 1000 - 2), '-H', 'content-type: application/octet-stream', '--data-binary', `@${file}`, `http://${STACK}:${PORT}/sha256`],
    { timeoutMs },
  );
}

/** `nstat`-style kernel counters of the namespace (TcpExt), by name. */
async function kernelCounters(netns: string): Promise<Record<string, number>> {
  const r = await runInNetns(netns, ['nstat', '-az'], { timeoutMs: 5_000 });
  const out: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+)\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

const BIG_SHA = patternSha256(BIG);

describe.skipIf(!canRunIntegration())('loss recovery over a real TUN: the kernel (curl) against tuntcp', () => {
  describe(`our impairment layer: ${IMPAIR}`, () => {
    let b: Bench;
    beforeAll(async () => {
      b = await setUp('lossimp', IMPAIR);
    });
    afterAll(async () => {
      if (b) await tearDown(b);
    });

    it('50 MB download: byte-exact; we repair our losses by fast retransmit and SACK recovery', async () => {
      const before = { ...b.stack!.tcp.stats };
      const r = await download(b.netns, 40_000);
      const s = b.stack!.tcp.stats;
      console.log(`[loss-tun] impaired download: ${r.ms} ms, ${mbps(BIG, r.ms)}; ${summary(s)}`);
      expect(r.timedOut, 'curl did not finish in time').toBe(false);
      expect(r.stderr).toBe('');
      expect(r.stdout.split(' ')[0]).toBe(BIG_SHA);
      expect(s.fastRetransmits - before.fastRetransmits).toBeGreaterThan(10);
      expect(s.sackRecoveries - before.sackRecoveries).toBeGreaterThan(10);
      expect(s.fastRetransmits - before.fastRetransmits).toBeGreaterThan(s.rtoTimeouts - before.rtoTimeouts);
    }, 45_000);

    it('50 MB upload: byte-exact (the kernel recovers from what our layer drops)', async () => {
      const r = await upload(b.netns, b.upload, 40_000);
      console.log(`[loss-tun] impaired upload: ${r.ms} ms, ${mbps(BIG, r.ms)}; our side: ${summary(b.stack!.tcp.stats)}`);
      expect(r.timedOut, 'curl did not finish in time').toBe(false);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${b.uploadHash}  ${BIG}\n`);
    }, 45_000);
  });

  describe(`nftables drops ${NFT_DROP}% of what the kernel forwards, each way`, () => {
    // The kernel's own TCP must lose packets too, and a drop in the output
    // hook of the sending host is no loss: netfilter reports it to TCP,
    // which keeps the segment and sends it again at once (measured: 900
    // output drops, TcpRetransSegs 0). So curl runs in a second namespace,
    // behind a veth pair, and the TUN's namespace routes between the two:
    // what the forward hook drops is lost on the wire for both TCPs.
    let b: Bench;
    const client = uniqueNetnsName('lossnfc');
    const inNs = (ns: string, cmd: string[]) => runInNetns(ns, cmd, { timeoutMs: 5_000 });
    beforeAll(async () => {
      // Without offload: nft's forward hook sees what crosses the TUN, and a
      // super-packet would be dropped as one (44 segments at once), which
      // is not the per-segment loss this test is about.
      b = await setUp('lossnft', undefined, false);
      const router = b.netns;
      const steps: [string, string[]][] = [
        [router, ['ip', 'netns', 'add', client]],
        [router, ['ip', 'link', 'add', 'veth-r', 'type', 'veth', 'peer', 'name', 'veth-c', 'netns', client]],
        [router, ['ip', 'addr', 'add', `${ROUTER}/24`, 'dev', 'veth-r']],
        [router, ['ip', 'link', 'set', 'veth-r', 'up']],
        [router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']],
        [client, ['ip', 'link', 'set', 'lo', 'up']],
        [client, ['ip', 'addr', 'add', `${CLIENT}/24`, 'dev', 'veth-c']],
        [client, ['ip', 'link', 'set', 'veth-c', 'up']],
        [client, ['ip', 'route', 'add', 'default', 'via', ROUTER]],
        // One segment per skb: a drop is a segment, not a 64 KB GSO burst
        // (no ethtool here; `ip link` sets the same limit).
        [client, ['ip', 'link', 'set', 'dev', 'veth-c', 'gso_max_segs', '1']],
        [router, ['nft', 'add', 'table', 'inet', 'tt']],
        [router, ['nft', 'add', 'chain', 'inet', 'tt', 'fw', '{ type filter hook forward priority 0; }']],
        [router, ['nft', 'add', 'rule', 'inet', 'tt', 'fw', 'meta', 'l4proto', 'tcp', 'numgen', 'random', 'mod', '100', '<', String(NFT_DROP), 'counter', 'drop']],
      ];
      for (const [ns, cmd] of steps) {
        // `ip netns add` is run from the root namespace, like every `ip netns`.
        const r = cmd[0] === 'ip' && cmd[1] === 'netns' ? await runCommand(cmd) : await inNs(ns, cmd);
        expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).toBe(0);
      }
    });
    afterAll(async () => {
      removeNetns(client);
      expect(netnsExists(client)).toBe(false);
      if (b) await tearDown(b);
    });

    it('50 MB download and upload byte-exact; both TCPs recover (our stats, the kernel\'s nstat)', async () => {
      const d = await download(client, 40_000);
      const u = await upload(client, b.upload, 40_000);
      const s = b.stack!.tcp.stats;
      const k = await kernelCounters(client);
      const rules = await inNs(b.netns, ['nft', 'list', 'table', 'inet', 'tt']);
      const dropped = Number(/counter packets (\d+)/.exec(rules.stdout)?.[1] ?? 0);
      console.log(
        `[loss-tun] nft download ${d.ms} ms (${mbps(BIG, d.ms)}), upload ${u.ms} ms (${mbps(BIG, u.ms)}); nft dropped ${dropped}; ` +
          `ours: ${summary(s)}; kernel: TCPSackRecovery ${k['TcpExtTCPSackRecovery']}, TCPFastRetrans ${k['TcpExtTCPFastRetrans']}, ` +
          `TCPTimeouts ${k['TcpExtTCPTimeouts']}, TCPLossProbes ${k['TcpExtTCPLossProbes']}, RetransSegs ${k['TcpRetransSegs']}`,
      );
      expect(d.timedOut || u.timedOut, 'curl did not finish in time').toBe(false);
      expect(d.stdout.split(' ')[0]).toBe(BIG_SHA);
      expect(u.stdout).toBe(`${b.uploadHash}  ${BIG}\n`);
      expect(dropped).toBeGreaterThan(500);
      // We lost what we sent (download) and recovered mostly without timeouts ...
      expect(s.sackRecoveries).toBeGreaterThan(10);
      expect(s.fastRetransmits).toBeGreaterThan(s.rtoTimeouts);
      // ... and so did the kernel (upload).
      expect(k['TcpRetransSegs'] ?? 0).toBeGreaterThan(100);
      expect(k['TcpExtTCPSackRecovery'] ?? 0).toBeGreaterThan(10);
    }, 90_000);
  });
});
