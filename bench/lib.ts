/**
 * What the bench needs around its measurements: namespaces it creates and
 * always removes, processes it starts inside them and always stops (by PID),
 * bounded waits, and the arithmetic of rounds.
 *
 * Every process runs as `ip netns exec NS setpriv --pdeathsig TERM -- CMD`:
 * should the bench itself be killed outright, the kernel still sends its
 * children SIGTERM, so no server outlives a bench that could not clean up.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable } from '../src/tun/prerequisites.ts';
import { superviseChild } from '../src/util/supervised-child.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/**
 * The descriptor limit every process of the bench gets: the hard limit we
 * inherit (raising it needs CAP_SYS_RESOURCE, which a container may not
 * grant). Connections are spread over processes so that none needs more.
 */
export const NOFILE = hardNofile();

function hardNofile(): number {
  try {
    const text = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    const n = text === 'unlimited' ? Infinity : Number(text);
    return Number.isInteger(n) && n > 0 ? Math.min(n, 1_048_576) : 1024;
  } catch {
    return 1024;
  }
}

const SBIN_PATH = `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin:/usr/bin:/bin`;

/** An executable on PATH or in the sbin directories a non-login root shell may lack. */
export const which = findExecutable;

/** Runs a short command synchronously (set-up steps only: nothing that must answer our own event loop). */
export function run(cmd: string, args: readonly string[], timeoutMs = 10_000): string {
  try {
    return execFileSync(which(cmd) ?? cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  } catch (err) {
    const e = err as { stderr?: unknown; message?: unknown };
    const detail = typeof e.stderr === 'string' && e.stderr.trim() !== '' ? e.stderr.trim().split('\n')[0] : String(e.message ?? err);
    throw new Error(`${cmd} ${args.join(' ')}: ${detail}`);
  }
}

export interface Proc {
  readonly pid: number;
  readonly name: string;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited and its output is complete. */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>;
  /** Resolves with the first stdout line `match` accepts; rejects on exit or after `timeoutMs`. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Closes its stdin (the servers and the idle client take that as "stop"). */
  closeStdin(): void;
}

/**
 * Owns everything the bench creates. `cleanup()` undoes it all; it runs from
 * `finally`, on SIGINT/SIGTERM, and (synchronously, as far as it can) on exit.
 */
export class Resources {
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<Proc>();
  private cleaning: Promise<void> | null = null;

  constructor() {
    process.on('exit', () => this.cleanupSync());
  }

  /** Creates a namespace with its loopback up; removed by cleanup(). */
  addNamespace(name: string): string {
    this.checkOpen();
    run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** A namespace somebody else (the tuntcp server) creates; removed by cleanup() if still there. */
  adoptNamespace(name: string): void {
    this.namespaces.push(name);
  }

  /** Starts CMD inside NS (or in our own namespace when ns is null). */
  start(name: string, ns: string | null, cmd: readonly string[], options: { timeoutMs: number; extraFds?: number } = { timeoutMs: 60_000 }): Proc {
    this.checkOpen();
    const guard = which('setpriv') !== undefined ? ['setpriv', '--pdeathsig', 'TERM', '--'] : [];
    // `ip netns exec`, setpriv and prlimit each exec the next, so the PID we
    // get is the command's own: stopping it by PID reaches the right process.
    const argv = ns === null ? [...guard, ...cmd] : ['ip', 'netns', 'exec', ns, ...guard, ...cmd];
    const stdio: ('pipe' | 'ignore')[] = ['pipe', 'pipe', 'pipe'];
    for (let i = 0; i < (options.extraFds ?? 0); i++) stdio.push('pipe');
    const child = spawn(which(argv[0]!) ?? argv[0]!, argv.slice(1), { cwd: REPO_ROOT, stdio, env: { ...process.env, PATH: SBIN_PATH } });
    let out = '';
    let err = '';
    const lineWaiters = new Set<() => void>();
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      for (const w of [...lineWaiters]) w();
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      // Bounded: a chatty failure must not grow without limit.
      if (err.length < 64 * 1024) err += d;
    });
    child.stdin?.on('error', () => undefined);
    const supervised = superviseChild(child, {
      timeoutMs: options.timeoutMs,
      unrefTimer: true,
      onError: (e) => {
        err += String(e);
      },
    });
    const { pid, kill } = supervised;
    const done = supervised.done.then((exit) => {
      this.procs.delete(proc);
      for (const w of [...lineWaiters]) w();
      return exit;
    });
    const proc: Proc = {
      pid,
      name,
      child,
      stdout: () => out,
      stderr: () => err,
      done,
      waitForLine(match, timeoutMs) {
        return new Promise((resolve, reject) => {
          const check = (): void => {
            const line = out.split('\n').find((l) => l !== '' && match(l));
            if (line !== undefined) {
              cleanup();
              resolve(line);
            } else if (supervised.exited) {
              cleanup();
              reject(new Error(`${name} exited before it was ready: ${err.trim().split('\n').slice(-3).join(' | ') || out.trim()}`));
            }
          };
          const t = setTimeout(() => {
            cleanup();
            reject(new Error(`${name} not ready within ${timeoutMs} ms: ${err.trim().split('\n').slice(-3).join(' | ')}`));
          }, timeoutMs);
          const cleanup = (): void => {
            clearTimeout(t);
            lineWaiters.delete(check);
          };
          lineWaiters.add(check);
          check();
        });
      },
      async stop(graceMs = 5_000) {
        if (supervised.exited) return;
        kill('SIGTERM');
        const t = setTimeout(() => kill('SIGKILL'), graceMs);
        await done;
        clearTimeout(t);
      },
      closeStdin() {
        child.stdin?.end();
      },
    };
    this.procs.add(proc);
    return proc;
  }

  /** Runs CMD in NS to completion (bounded) and returns its output. */
  async exec(name: string, ns: string | null, cmd: readonly string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
    const p = this.start(name, ns, cmd, { timeoutMs });
    p.closeStdin();
    const r = await p.done;
    return { code: r.code, stdout: p.stdout(), stderr: p.stderr(), timedOut: r.timedOut };
  }

  /** After cleanup began (Ctrl-C), nothing new may start: it would outlive the cleanup. */
  private checkOpen(): void {
    if (this.cleaning !== null) throw new Error('the bench is stopping');
  }

  /** Stops every process (SIGTERM, then SIGKILL) and removes every namespace. */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      await Promise.all([...this.procs].map((p) => p.stop(3_000)));
      this.removeNamespaces();
    })();
    return this.cleaning;
  }

  private cleanupSync(): void {
    for (const p of this.procs) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    this.removeNamespaces();
  }

  private removeNamespaces(): void {
    while (this.namespaces.length > 0) {
      const ns = this.namespaces.pop()!;
      if (!existsSync(`/var/run/netns/${ns}`)) continue;
      try {
        run('ip', ['netns', 'del', ns]);
      } catch {
        // a process may still hold it for a moment; the namespace goes when it exits
      }
    }
  }
}

/** VmRSS of a process in bytes (0 if it is gone). */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** User and system CPU seconds a process has used so far (/proc/PID/stat), or null if it is gone. */
export function cpuSeconds(pid: number): { user: number; system: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14, stime 15 (proc(5)).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / CLK_TCK, system: Number(f[12]) / CLK_TCK };
  } catch {
    return null;
  }
}

const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until a TCP listener on `port` exists in `ns` (polling `ss`, bounded). */
export async function waitForListener(res: Resources, ns: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 200; i++) {
    const r = await res.exec('ss', ns, ['ss', '-Hltn', `sport = :${port}`], 5_000);
    if (r.stdout.includes(`:${port}`)) return;
    if (Date.now() >= deadline) break;
    await sleep(50);
  }
  throw new Error(`no listener on port ${port} in ${ns} within ${timeoutMs} ms`);
}

export interface Spread {
  rounds: number[];
  median: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread | null {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { rounds: [...values], median, min: s[0]!, max: s[s.length - 1]! };
}
