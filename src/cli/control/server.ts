import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { probeControlSocket, removeStale, requestSnapshot } from './client.ts';
import { controlSocketPath, runDir } from './paths.ts';
import type { Snapshot } from './snapshot.ts';

/**
 * The control socket of a running `tuntcp serve`: a Unix socket (never the
 * network) that answers `{"command":"snapshot"}` lines with one JSON line
 * each. Only root may connect (mode 0600): the snapshot shows every
 * connection's addresses.
 */
export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
  /** For exit paths that cannot wait: removes the socket file. */
  closeSync(): void;
}

const MAX_REQUEST_BYTES = 4096;

/**
 * Refuses when another serve already answers for `netns`, removes a stale
 * socket file left by a killed one. Throws an Error with a one-line message.
 */
export async function checkControlSocketFree(netns: string): Promise<void> {
  const socketPath = controlSocketPath(netns);
  const state = await probeControlSocket(socketPath);
  if (state === 'stale') removeStale(socketPath);
  if (state !== 'alive') return;
  let who = 'another tuntcp serve';
  try {
    who = `tuntcp serve (pid ${(await requestSnapshot(socketPath, 2_000)).pid})`;
  } catch {
    // the line below is still true without the pid
  }
  throw new Error(`network namespace ${netns} is in use by ${who}: stop it first, or choose another name with --netns`);
}

export function startControlServer(netns: string, snapshot: () => Snapshot): Promise<ControlServer> {
  const socketPath = controlSocketPath(netns);
  mkdirSync(runDir(), { recursive: true, mode: 0o755 });
  const server = net.createServer((conn) => {
    let buffer = '';
    conn.setEncoding('utf8');
    conn.on('error', () => undefined);
    conn.on('data', (d: string) => {
      buffer += d;
      if (buffer.length > MAX_REQUEST_BYTES) {
        conn.end(JSON.stringify({ error: 'request too long' }) + '\n');
        return;
      }
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        conn.write(answer(line, snapshot) + '\n');
      }
    });
  });
  // The control socket must never keep the process alive on its own.
  server.unref();
  let closed = false;
  const closeSync = (): void => {
    if (closed) return;
    closed = true;
    server.close();
    try {
      unlinkSync(socketPath);
    } catch {
      // already gone
    }
  };
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot create the control socket ${socketPath}: ${err.code ?? err.message}`)),
    );
    server.listen(socketPath, () => {
      try {
        chmodSync(socketPath, 0o600);
      } catch {
        // the socket works anyway; only its permissions are looser
      }
      resolve({
        path: socketPath,
        closeSync,
        close: () =>
          new Promise<void>((done) => {
            closeSync();
            done();
          }),
      });
    });
  });
}

function answer(line: string, snapshot: () => Snapshot): string {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    return JSON.stringify({ error: 'a request is one line of JSON, e.g. {"command":"snapshot"}' });
  }
  const command = (request as { command?: unknown } | null)?.command;
  if (command === 'snapshot') return JSON.stringify(snapshot());
  return JSON.stringify({ error: `unknown command ${JSON.stringify(command)} (known: snapshot)` });
}
