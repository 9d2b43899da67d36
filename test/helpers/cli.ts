import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TUNTCP_BIN = path.join(REPO_ROOT, 'bin/tuntcp.js');

/** A `tuntcp` process started by a test; stopped by PID, never by name. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  /** stdout as raw bytes (for binary output such as `--pcap -`). */
  stdoutBytes(): Buffer;
  stderr(): string;
  /** Resolves when stderr contains `text` (rejects on exit or timeout). */
  waitForStderr(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Sends a signal and resolves with the exit code (or the signal name). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
  exited(): Promise<number | string>;
}

export function startCli(args: string[], options: { stdout?: 'pipe' | 'ignore' } = {}): CliProcess {
  const child = spawn(process.execPath, [TUNTCP_BIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
  });
  const outChunks: Buffer[] = [];
  let err = '';
  child.stdout?.on('data', (d: Buffer) => outChunks.push(d));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    child,
    stdout: () => Buffer.concat(outChunks).toString(),
    stdoutBytes: () => Buffer.concat(outChunks),
    stderr: () => err,
    exited: () => exit,
    waitForStderr(text, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const matches = (): boolean => (typeof text === 'string' ? err.includes(text) : text.test(err));
        if (matches()) return resolve();
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${String(text)} on stderr; got:\n${err}`));
        }, timeoutMs);
        const onData = (): void => {
          if (matches()) {
            cleanup();
            resolve();
          }
        };
        const onExit = (): void => {
          cleanup();
          reject(new Error(`tuntcp exited before printing ${String(text)}; stderr:\n${err}`));
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          child.stderr?.off('data', onData);
          child.off('exit', onExit);
        };
        child.stderr?.on('data', onData);
        child.once('exit', onExit);
      });
    },
    async stop(signal = 'SIGINT', timeoutMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exit;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Runs `tuntcp ARGS` to completion (for bad-input cases). */
export function runCli(args: string[], timeoutMs = 20_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TUNTCP_BIN, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function netnsExists(name: string): boolean {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout.split('\n').some((line) => line.split(' ')[0] === name);
}

/** Removes a namespace a failed test may have left; never touches anything else. */
export function removeNetns(name: string): void {
  if (netnsExists(name)) spawnSync('ip', ['netns', 'del', name]);
}

let counter = 0;
/** A namespace name unique to this test process. */
export function uniqueNetnsName(purpose: string): string {
  counter += 1;
  return `tt-${purpose}-${process.pid}-${counter}`;
}
