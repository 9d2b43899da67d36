/**
 * A child process kept on a leash: the bench (bench/lib.ts) and the
 * integration tests (test/helpers/peers.ts) start kernel-side peers this
 * way. The machine's rules are the reason it exists: a process is stopped
 * by its own PID, never by name, and nothing runs unbounded — after
 * `timeoutMs` it is killed with SIGKILL.
 */
import type { ChildProcess } from 'node:child_process';

export interface ChildExit {
  /** Exit status; null when killed by a signal (e.g. the timeout) or when it never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The timeout killed it. */
  timedOut: boolean;
}

export interface SupervisedChild {
  readonly pid: number;
  /** True once `done` has resolved. */
  readonly exited: boolean;
  /** Signals the process by PID; a no-op once it has exited. */
  kill(signal: NodeJS.Signals): void;
  /**
   * Resolves on 'close' (the process exited and its pipes are drained, so
   * captured output is complete) or when it could not be started.
   */
  readonly done: Promise<ChildExit>;
}

export interface SuperviseOptions {
  /** Killed with SIGKILL after this long. */
  timeoutMs: number;
  /** The timer does not keep the event loop alive (a bench that is otherwise done may exit). */
  unrefTimer?: boolean;
  /** The child could not be started (ENOENT, ...): called before `done` resolves. */
  onError?: (error: Error) => void;
}

export function superviseChild(child: ChildProcess, options: SuperviseOptions): SupervisedChild {
  const pid = child.pid ?? -1;
  let exited = false;
  let timedOut = false;
  const kill = (signal: NodeJS.Signals): void => {
    if (exited || pid < 0) return;
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill('SIGKILL');
  }, options.timeoutMs);
  if (options.unrefTimer === true) timer.unref();
  const done = new Promise<ChildExit>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (exited) return;
      exited = true;
      clearTimeout(timer);
      resolve({ code, signal, timedOut });
    };
    child.on('close', finish);
    child.on('error', (e) => {
      options.onError?.(e);
      finish(null, null);
    });
  });
  return {
    pid,
    get exited() {
      return exited;
    },
    kill,
    done,
  };
}
