import { readdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { controlSocketPath, netnsOfSocket, runDir } from './paths.ts';
import type { Snapshot } from './snapshot.ts';

const REQUEST_TIMEOUT_MS = 5_000;

/**
 * 'denied': we may not connect (EACCES/EPERM as an unprivileged user);
 * 'unknown': any other failure. Neither is alive, neither may be removed.
 */
export type SocketProbe = 'alive' | 'stale' | 'absent' | 'denied' | 'unknown';

/**
 * Whether a serve is answering on `socketPath`: 'stale' means the file is
 * there but nobody listens (the process was killed), so it may be removed.
 */
export function probeControlSocket(socketPath: string, timeoutMs = 1_000): Promise<SocketProbe> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const timer = setTimeout(() => {
      s.destroy();
      // A listener that does not even accept within a second is not one we can use, but it is not stale either.
      resolve('alive');
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('alive');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT') resolve('absent');
      else if (err.code === 'ECONNREFUSED') resolve('stale');
      else if (err.code === 'EACCES' || err.code === 'EPERM') resolve('denied');
      else resolve('unknown');
    });
  });
}

export interface Instance {
  netns: string;
  socketPath: string;
}

const DENIED = 'permission denied on the control socket: tuntcp ss needs root, as tuntcp serve does (sudo npx tuntcp ss)';

/** Running serve instances; stale socket files found on the way are removed. */
export async function findInstances(): Promise<Instance[]> {
  return (await scanInstances()).alive;
}

async function scanInstances(): Promise<{ alive: Instance[]; denied: number }> {
  let files: string[];
  try {
    files = readdirSync(runDir());
  } catch {
    return { alive: [], denied: 0 };
  }
  const found: Instance[] = [];
  let denied = 0;
  // Bounded: a run directory holds one socket per running serve.
  for (const file of files.slice(0, 1000)) {
    const netns = netnsOfSocket(file);
    if (netns === undefined) continue;
    const socketPath = path.join(runDir(), file);
    const state = await probeControlSocket(socketPath);
    if (state === 'alive') found.push({ netns, socketPath });
    else if (state === 'stale') removeStale(socketPath);
    else if (state === 'denied') denied++;
  }
  return { alive: found.sort((a, b) => a.netns.localeCompare(b.netns)), denied };
}

export function removeStale(socketPath: string): void {
  try {
    unlinkSync(socketPath);
  } catch {
    // someone else cleaned it, or we may not: either way it is not ours to insist on
  }
}

/** Picks the instance to talk to: the one named, or the only one running. */
export async function chooseInstance(netns: string | undefined): Promise<Instance> {
  if (netns !== undefined) {
    const socketPath = controlSocketPath(netns);
    const state = await probeControlSocket(socketPath);
    if (state === 'alive') return { netns, socketPath };
    if (state === 'stale') removeStale(socketPath);
    if (state === 'denied') throw new Error(DENIED);
    throw new Error(`no tuntcp serve is running in namespace ${netns} (no control socket at ${socketPath})`);
  }
  const { alive: all, denied } = await scanInstances();
  if (all.length === 1) return all[0]!;
  if (all.length === 0 && denied > 0) throw new Error(DENIED);
  if (all.length === 0) throw new Error(`no running tuntcp serve found (no control socket in ${runDir()}); start one with: tuntcp serve`);
  throw new Error(`${all.length} tuntcp serve instances are running (namespaces ${all.map((i) => i.netns).join(', ')}): pick one with --netns`);
}

/** Sends one request line and resolves with the one JSON line that answers it. */
export function requestSnapshot(socketPath: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Snapshot> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buffer = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the tuntcp serve at ${socketPath} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => s.write('{"command":"snapshot"}\n'));
    s.on('data', (d: string) => {
      buffer += d;
      const nl = buffer.indexOf('\n');
      if (nl < 0) {
        if (buffer.length > 64 * 1024 * 1024) {
          clearTimeout(timer);
          s.destroy();
          reject(new Error('answer too large'));
        }
        return;
      }
      clearTimeout(timer);
      s.end();
      try {
        const answer = JSON.parse(buffer.slice(0, nl)) as { error?: string } & Partial<Snapshot>;
        if (typeof answer.error === 'string') reject(new Error(answer.error));
        else resolve(answer as Snapshot);
      } catch (err) {
        reject(new Error(`unreadable answer from ${socketPath}: ${err instanceof Error ? err.message : String(err)}`));
      }
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the tuntcp serve at ${socketPath}: ${err.code ?? err.message}`));
    });
  });
}
