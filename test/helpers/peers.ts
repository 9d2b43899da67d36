/**
 * Peers we did not write (curl, nc, python3, tshark), run as separate
 * processes for the real-TUN integration tests.
 *
 * Everything here is asynchronous on purpose: the stack under test runs on
 * this very event loop, so a synchronous spawn of a client that talks to it
 * would block the loop and the stack could never answer (deadlock). Every
 * process has a timeout and is killed by its own PID, never by name.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { superviseChild } from '../../src/util/supervised-child.ts';

const execFileAsync = promisify(execFile);

export interface PeerResult {
  /** Exit status; null when killed by a signal (e.g. the timeout). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Wall-clock run time. */
  ms: number;
}

export interface PeerOptions {
  /** Killed with SIGKILL after this long. */
  timeoutMs: number;
  /** The process reads its stdin from this file (default: /dev/null). */
  stdinFile?: string;
  /** The process writes its stdout into this file (default: captured as text). */
  stdoutFile?: string;
}

export interface Peer {
  readonly pid: number;
  readonly done: Promise<PeerResult>;
  /** Kills this process by PID (no-op once it has exited). */
  kill(signal?: NodeJS.Signals): void;
}

const livePeers = new Set<Peer>();

/**
 * Starts `cmd` inside network namespace `netns` (`ip netns exec` execs the
 * command itself, so the PID is the command's own).
 */
export function startInNetns(netns: string, cmd: readonly string[], options: PeerOptions): Peer {
  const fds: number[] = [];
  const stdin = options.stdinFile !== undefined ? openSync(options.stdinFile, 'r') : 'ignore';
  if (typeof stdin === 'number') fds.push(stdin);
  const stdout = options.stdoutFile !== undefined ? openSync(options.stdoutFile, 'w') : 'pipe';
  if (typeof stdout === 'number') fds.push(stdout);
  const started = Date.now();
  const child = spawn('ip', ['netns', 'exec', netns, ...cmd], { stdio: [stdin, stdout, 'pipe'] });
  // The child holds its own copies of the descriptors.
  for (const fd of fds) closeSync(fd);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const supervised = superviseChild(child, {
    timeoutMs: options.timeoutMs,
    onError: (e) => {
      err += String(e);
    },
  });
  const peer: Peer = {
    pid: supervised.pid,
    // Without a signal, SIGTERM, as process.kill's own default.
    kill: (signal = 'SIGTERM') => supervised.kill(signal),
    // Resolved on 'close': stdout and stderr are complete.
    done: supervised.done.then(({ code, signal, timedOut }) => {
      livePeers.delete(peer);
      return { code, signal, stdout: out, stderr: err, timedOut, ms: Date.now() - started };
    }),
  };
  livePeers.add(peer);
  return peer;
}

/** Runs `cmd` in the namespace to completion (bounded by the timeout). */
export function runInNetns(netns: string, cmd: readonly string[], options: PeerOptions): Promise<PeerResult> {
  return startInNetns(netns, cmd, options).done;
}

/** Kills every peer this module started that is still running (for afterAll). */
export async function killAllPeers(): Promise<void> {
  const peers = [...livePeers];
  for (const p of peers) p.kill('SIGKILL');
  await Promise.all(peers.map((p) => p.done));
}

/** Waits until a kernel TCP listener on `port` exists inside the namespace. */
export async function waitForKernelListener(netns: string, port: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 500; attempt++) {
    const r = await runInNetns(netns, ['ss', '-Hltn', `sport = :${port}`], { timeoutMs: 5_000 });
    if (r.stdout.includes(`:${port}`)) return;
    if (Date.now() >= deadline) break;
    await sleep(50);
  }
  throw new Error(`no kernel listener on port ${port} in ${netns} within ${timeoutMs} ms`);
}

/** Writes `size` bytes from /dev/urandom into `file` and returns their SHA-256 (hex). */
export async function makeRandomFile(file: string, size: number): Promise<string> {
  await execFileAsync('sh', ['-c', 'head -c "$1" /dev/urandom > "$2"', 'sh', String(size), file], { timeout: 30_000 });
  return sha256File(file);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `tshark -r FILE -Y FILTER -T fields -e ...`: one array of field values per packet. */
export async function tsharkFields(
  pcap: string,
  filter: string,
  fields: readonly string[],
  preferences: readonly string[] = [],
): Promise<string[][]> {
  const args = ['-r', pcap, ...preferences.flatMap((p) => ['-o', p]), '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('tshark', args, { timeout: 60_000, maxBuffer: 256 * 1024 * 1024 }));
  } catch (err) {
    // A capture still being written may end in half a record; what came before is complete.
    const e = err as { stdout?: unknown; stderr?: unknown };
    if (typeof e.stdout !== 'string' || typeof e.stderr !== 'string' || !/cut short in the middle of a packet/.test(e.stderr)) throw err;
    stdout = e.stdout;
  }
  return stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 10 ms; false if it did not hold within `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await sleep(10);
  }
  return true;
}
