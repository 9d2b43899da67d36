/**
 * `tuntcp ss` against running `tuntcp serve` processes: the receive buffer
 * of a slow reader fills and its window closes; the accept queue of an
 * application that does not accept fills and overflows.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/cli/control/snapshot.ts';
import { netnsExists, removeNetns, runCli, startCli, uniqueNetnsName, type CliProcess } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import { killAllPeers, sleep, startInNetns } from '../helpers/peers.ts';

const STACK = '10.0.0.2';
const RCVBUF = 16384;
const BACKLOG = 2;

function snapshot(netns: string): Snapshot {
  const r = runCli(['ss', '--json', '--netns', netns]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Snapshot;
}

/** Polls `tuntcp ss --json` until `test` holds (at most 10 s, at most 50 snapshots). */
async function until(netns: string, test: (s: Snapshot) => boolean): Promise<Snapshot> {
  const deadline = Date.now() + 10_000;
  let s = snapshot(netns);
  for (let i = 0; i < 50 && !test(s) && Date.now() < deadline; i++) {
    await sleep(200);
    s = snapshot(netns);
  }
  return s;
}

describe.skipIf(!canRunIntegration())('tuntcp ss: queues and buffers of a running serve', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-ss-'));
  const runDir = path.join(dir, 'run');
  process.env['TUNTCP_RUN_DIR'] = runDir;
  const slow = uniqueNetnsName('ssslow');
  const full = uniqueNetnsName('ssfull');
  let slowServe: CliProcess | undefined;
  let fullServe: CliProcess | undefined;

  beforeAll(async () => {
    // The application reads 1000 bytes/s through a 16 KiB receive buffer.
    slowServe = startCli(['serve', '--netns', slow, '--http-port', '0', '--echo-port', '0', '--rcvbuf', String(RCVBUF), '--slow-reader', '1000']);
    await slowServe.waitForStderr('Ctrl-C stops');
  });

  // If this worker dies before afterAll, each serve still cleans up after itself on SIGTERM.
  process.once('exit', () => {
    slowServe?.child.kill('SIGTERM');
    fullServe?.child.kill('SIGTERM');
  });

  afterAll(async () => {
    const codes: (number | string)[] = [];
    try {
      for (const cli of [slowServe, fullServe]) if (cli) codes.push(await cli.stop('SIGINT'));
    } finally {
      await killAllPeers();
      for (const ns of [slow, full]) removeNetns(ns);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(codes.every((c) => c === 0), `exit codes ${codes.join(', ')}`).toBe(true);
    expect(netnsExists(slow) || netnsExists(full)).toBe(false);
  });

  it('finds the only running serve by itself', () => {
    const r = runCli(['ss']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`namespace ${slow}`);
    expect(r.stdout).toMatch(/^LISTEN +0 +128 +\*:9 +\*:\* +discard$/m);
    expect(r.stdout).toMatch(/syn-queue:0\/256 accept-queue:0\/128/);
  });

  it('a slow reader: the receive buffer is full and the window we advertise is zero', async () => {
    // An endless upload (nc reading /dev/zero), no shell: killing it kills the uploader.
    const upload = startInNetns(slow, ['nc', STACK, '9'], { timeoutMs: 30_000, stdinFile: '/dev/zero' });
    // "Full" means no room for another segment: receiver SWS avoidance (RFC
    // 9293 §3.8.6.2.2) keeps the window at zero until at least an MSS is free.
    const isStalled = (s: Snapshot): boolean =>
      s.connections.some(
        (c) => c.localPort === 9 && c.state === 'ESTABLISHED' && c.rcvBufSize - c.rcvBufUsed < c.mss && c.rcvWnd === 0,
      );
    const s = await until(slow, isStalled);
    const conn = s.connections.find((c) => c.localPort === 9);
    expect(conn, JSON.stringify(s.connections)).toBeDefined();
    expect(conn).toMatchObject({ state: 'ESTABLISHED', rcvBufSize: RCVBUF, rcvWnd: 0 });
    expect(RCVBUF - conn!.rcvBufUsed).toBeLessThan(conn!.mss);

    // The same, as a person reads it.
    const r = runCli(['ss', '--netns', slow]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ESTAB +${conn!.rcvBufUsed} +0 +10\\.0\\.0\\.2:9 +10\\.0\\.0\\.1:\\d+ +discard$`, 'm'));
    expect(r.stdout).toContain(`rcv_buf:${conn!.rcvBufUsed}/${RCVBUF} rcv_wnd:0 `);
    upload.kill('SIGKILL');
    await upload.done;
  }, 45_000);

  it('--watch refreshes, bounded by --count', () => {
    const r = runCli(['ss', '--netns', slow, '--watch', '100', '--count', '3']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.match(/^--- \d{4}-/gm)).toHaveLength(3);
    expect(r.stdout.match(/^State +Recv-Q +Send-Q/gm)).toHaveLength(3);
  });

  it('an application that does not accept: the accept queue is full and SYNs are dropped', async () => {
    const trace = path.join(dir, 'trace.jsonl');
    fullServe = startCli(['serve', '--netns', full, '--http-port', '0', '--discard-port', '0', '--echo-port', '7', '--backlog', String(BACKLOG), '--no-accept', '--trace', trace]);
    await fullServe.waitForStderr('Ctrl-C stops');
    // Two clients fill the queue (nc keeps its connection open)...
    for (let i = 0; i < BACKLOG; i++) startInNetns(full, ['nc', STACK, '7'], { timeoutMs: 30_000 });
    await until(full, (x) => x.listeners.some((l) => l.acceptQueueLength === BACKLOG));
    // ...and the SYNs of four more find it full.
    for (let i = 0; i < 4; i++) startInNetns(full, ['nc', STACK, '7'], { timeoutMs: 30_000 });
    const s = await until(full, (x) => (x.tcp['synDroppedAcceptQueueFull'] ?? 0) >= 4);
    const echo = s.listeners.find((l) => l.localPort === 7)!;
    expect(echo).toMatchObject({ service: 'echo', acceptQueueLength: BACKLOG, acceptQueueLimit: BACKLOG });
    expect(s.tcp['synDroppedAcceptQueueFull']).toBeGreaterThanOrEqual(4);
    // The two in the queue are established on our side, never accepted.
    expect(s.connections.filter((c) => c.localPort === 7 && c.state === 'ESTABLISHED')).toHaveLength(BACKLOG);

    const r = runCli(['ss', '--netns', full, '-l']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^LISTEN +${BACKLOG} +${BACKLOG} +\\*:7 +\\*:\\* +echo$`, 'm'));
    expect(r.stdout).toContain(`accept-queue:${BACKLOG}/${BACKLOG}`);
    expect(r.stdout).toMatch(/syns-dropped-accept-queue-full:[1-9]/);

    // --trace told the same story, one JSON line per event.
    const events = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    const established = events.filter((e) => e['event'] === 'state' && e['from'] === 'SYN-RECEIVED' && e['to'] === 'ESTABLISHED');
    expect(established.map((e) => e['conn']!.split('-')[0])).toEqual(['10.0.0.2:7', '10.0.0.2:7']);
    expect(events.some((e) => e['event'] === 'syn-dropped-accept-queue-full' && e['listener'] === '0.0.0.0:7')).toBe(true);
    expect(events.every((e) => typeof e['time'] === 'string')).toBe(true);
  }, 45_000);

  it('with two running, asks which; with none for a name, says so', () => {
    const r = runCli(['ss']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toBe(
      `tuntcp: 2 tuntcp serve instances are running (namespaces ${[slow, full].sort().join(', ')}): pick one with --netns`,
    );
    const none = runCli(['ss', '--netns', 'tt-no-such-ns']);
    expect(none.status).not.toBe(0);
    expect(none.stderr.trim()).toMatch(/^tuntcp: no tuntcp serve is running in namespace tt-no-such-ns/);
    const count = runCli(['ss', '--count', '2']);
    expect(count.stderr.trim()).toBe('tuntcp: --count goes with --watch');
  });

  it('cleans a stale control socket left by a killed process', async () => {
    // What SIGKILL leaves: a socket file nobody listens on any more.
    const stale = path.join(runDir, 'tt-stale.sock');
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)})`], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(stale); i++) await sleep(20);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    expect(existsSync(stale)).toBe(true);
    const r = runCli(['ss', '--netns', 'tt-stale']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^tuntcp: no tuntcp serve is running in namespace tt-stale/);
    expect(existsSync(stale)).toBe(false);
  });
});
