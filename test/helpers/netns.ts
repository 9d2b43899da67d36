/**
 * A network namespace with a TUN device in it, for integration tests: the
 * kernel on one side (10.0.0.1), our stack on the other (10.0.0.2).
 *
 * Every namespace made here is registered so that a process 'exit' handler
 * removes leftovers if a suite dies before its afterAll; background
 * processes are killed by PID, never by name.
 */
import { execFileSync, spawn as spawnChild } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { findExecutable, effectiveCapabilities } from '../../src/tun/prerequisites.ts';
import { namespaceExists, setupNamespace, teardownNamespace } from '../../src/tun/namespace.ts';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null if killed by a signal (e.g. the timeout). */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

export interface ExecOptions {
  /** Default 10 s; the process is killed with SIGKILL when it runs out. */
  timeoutMs?: number;
  input?: string | Uint8Array;
}

export interface BackgroundProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills this process by PID (idempotent). */
  kill(signal?: NodeJS.Signals): void;
}

export interface TestNamespaceOptions {
  dev?: string;
  mtu?: number;
  txqueuelen?: number;
}

export interface TestNamespace {
  readonly netns: string;
  readonly dev: string;
  readonly kernelAddress: string;
  readonly stackAddress: string;
  readonly prefixLength: number;
  readonly mtu: number;
  /** Runs `cmd` inside the namespace and waits for it (bounded by a timeout). */
  exec(cmd: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Synchronous exec, for set-up steps that need no answer from our own event loop. */
  execSync(cmd: readonly string[], opts?: ExecOptions): ExecResult;
  /** Starts `cmd` in the background inside the namespace. */
  spawn(cmd: readonly string[]): BackgroundProcess;
  /** Reads a counter from /sys/class/net/<dev>/statistics inside the namespace. */
  counter(name: 'rx_packets' | 'tx_packets' | 'rx_bytes' | 'tx_bytes' | 'tx_dropped' | 'rx_dropped'): number;
  /**
   * Waits until the device's operstate is "up", i.e. a process has attached
   * and the kernel has activated its queue (packets sent before that are
   * dropped). Rejects after `timeoutMs` (default 3 s).
   */
  waitUntilUp(timeoutMs?: number): Promise<void>;
  /** Kills the background processes and removes the namespace (idempotent). */
  destroy(): void;
}

const KERNEL_ADDRESS = '10.0.0.1';
const STACK_ADDRESS = '10.0.0.2';
const PREFIX_LENGTH = 24;
const DEFAULT_EXEC_TIMEOUT_MS = 10_000;

const liveNamespaces = new Set<string>();
const livePids = new Set<number>();
let counter = 0;
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of livePids) killPid(pid, 'SIGKILL');
    for (const netns of liveNamespaces) {
      try {
        execFileSync('ip', ['netns', 'delete', netns], { stdio: 'ignore', timeout: 5_000 });
      } catch {
        // best effort: the process is exiting anyway
      }
    }
  });
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), /dev/net/tun and `ip`: what the integration suites need. */
export function canRunIntegration(): boolean {
  if (process.platform !== 'linux') return false;
  let caps: bigint | undefined;
  try {
    caps = effectiveCapabilities(readFileSync('/proc/self/status', 'utf8'));
  } catch {
    caps = undefined;
  }
  const privileged =
    caps === undefined ? process.geteuid?.() === 0 : ((caps >> 12n) & 1n) === 1n && ((caps >> 21n) & 1n) === 1n;
  return privileged && existsSync('/dev/net/tun') && findExecutable('ip') !== undefined;
}

/**
 * Creates `tt-<prefix>-<pid>-<n>` with a TUN device (default `tun0`) holding
 * 10.0.0.1/24. Call `destroy()` in afterAll.
 */
export function createTestNamespace(prefix: string, opts: TestNamespaceOptions = {}): TestNamespace {
  installExitHook();
  const netns = `tt-${prefix}-${process.pid}-${++counter}`;
  const dev = opts.dev ?? 'tun0';
  const mtu = opts.mtu ?? 1500;
  liveNamespaces.add(netns);
  try {
    setupNamespace({
      netns,
      dev,
      kernelAddr: `${KERNEL_ADDRESS}/${PREFIX_LENGTH}`,
      mtu,
      txqueuelen: opts.txqueuelen ?? 1000,
    });
  } catch (err) {
    removeNamespace(netns);
    throw err;
  }
  const children = new Set<BackgroundProcess>();
  let destroyed = false;

  const nsArgs = (cmd: readonly string[]): string[] => {
    if (cmd.length === 0) throw new TypeError('exec: empty command');
    if (destroyed) throw new Error(`namespace ${netns} is destroyed`);
    return ['netns', 'exec', netns, ...cmd];
  };

  return {
    netns,
    dev,
    kernelAddress: KERNEL_ADDRESS,
    stackAddress: STACK_ADDRESS,
    prefixLength: PREFIX_LENGTH,
    mtu,

    exec(cmd, execOpts = {}) {
      const timeoutMs = execOpts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
      const proc = spawnTracked(nsArgs(cmd));
      if (execOpts.input !== undefined) proc.child.stdin?.end(execOpts.input);
      else proc.child.stdin?.end();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        proc.kill('SIGKILL');
      }, timeoutMs);
      return proc.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        return { stdout: proc.stdout(), stderr: proc.stderr(), code, signal, timedOut };
      });
    },

    execSync(cmd, execOpts = {}) {
      try {
        const stdout = execFileSync('ip', nsArgs(cmd), {
          encoding: 'utf8',
          stdio: ['pipe', 'pipe', 'pipe'],
          timeout: execOpts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
          killSignal: 'SIGKILL',
          ...(execOpts.input === undefined ? {} : { input: execOpts.input }),
        });
        return { stdout, stderr: '', code: 0, signal: null, timedOut: false };
      } catch (err) {
        const e = err as { stdout?: unknown; stderr?: unknown; status?: unknown; signal?: unknown; code?: unknown };
        const signal = typeof e.signal === 'string' ? (e.signal as NodeJS.Signals) : null;
        return {
          stdout: typeof e.stdout === 'string' ? e.stdout : '',
          stderr: typeof e.stderr === 'string' ? e.stderr : String(err),
          code: typeof e.status === 'number' ? e.status : null,
          signal,
          timedOut: e.code === 'ETIMEDOUT',
        };
      }
    },

    spawn(cmd) {
      return spawnTracked(nsArgs(cmd));
    },

    counter(name) {
      const out = execFileSync('ip', ['netns', 'exec', netns, 'cat', `/sys/class/net/${dev}/statistics/${name}`], {
        encoding: 'utf8',
        timeout: DEFAULT_EXEC_TIMEOUT_MS,
      });
      return Number(out.trim());
    },

    async waitUntilUp(timeoutMs = 3_000) {
      const deadline = Date.now() + timeoutMs;
      for (let attempt = 0; attempt < 1_000; attempt++) {
        const r = execFileSync('ip', ['netns', 'exec', netns, 'cat', `/sys/class/net/${dev}/operstate`], {
          encoding: 'utf8',
          timeout: DEFAULT_EXEC_TIMEOUT_MS,
        });
        if (r.trim() === 'up') return;
        if (Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`${dev} in ${netns} did not come up within ${timeoutMs} ms (is a process attached?)`);
    },

    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const child of children) child.kill('SIGKILL');
      children.clear();
      removeNamespace(netns);
    },
  };

  function spawnTracked(args: string[]): BackgroundProcess {
    // `ip netns exec` execs the command itself, so this PID is the command's.
    const child = spawnChild('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    const pid = child.pid;
    if (pid !== undefined) livePids.add(pid);
    let done = false;
    const proc: BackgroundProcess = {
      pid: pid ?? -1,
      child,
      stdout: () => out,
      stderr: () => err,
      exited: new Promise((resolve) => {
        const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
          if (done) return;
          done = true;
          if (pid !== undefined) livePids.delete(pid);
          children.delete(proc);
          resolve({ code, signal });
        };
        // 'close' waits for the pipes to drain, so stdout() is complete.
        child.on('close', finish);
        child.on('error', (e) => {
          err += String(e);
          finish(null, null);
        });
      }),
      kill(signal: NodeJS.Signals = 'SIGTERM') {
        if (!done && pid !== undefined) killPid(pid, signal);
      },
    };
    children.add(proc);
    return proc;
  }
}

function removeNamespace(netns: string): void {
  try {
    teardownNamespace(netns);
  } catch {
    // Fall back to the bare command: a namespace must not outlive the test.
    try {
      execFileSync('ip', ['netns', 'delete', netns], { stdio: 'ignore', timeout: 5_000 });
    } catch {
      // nothing more to do; the exit hook tries once more
    }
  }
  if (!namespaceExists(netns)) liveNamespaces.delete(netns);
}
