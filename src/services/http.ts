import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { Socket, TuntcpNet } from '../socket/net.ts';
import { PATTERN_BLOCK_SIZE, patternBytes, patternChunks, patternSha256 } from './pattern.ts';
import { startService, type Service, type ServiceOptions } from './service.ts';

export interface HttpServiceOptions extends ServiceOptions {
  /** Directory served under `/` (files only; no listing outside it). */
  root?: string | undefined;
  /** Snapshot of the stack for `/stats` (ip and tcp counters, listeners, connections). */
  stats: () => unknown;
}

const MAX_BYTES = 2 ** 40;
/** Largest N for which `/bytes/N?sha256` hashes on request (about 10 s of CPU at most). */
const MAX_HASHED_BYTES = 4 * 2 ** 30;

export const HTTP_ENDPOINTS_HELP =
  '/ (greeting, or files under --root), /bytes/N (N pseudo-random bytes; /bytes/N?sha256 gives their hash), ' +
  'POST /sha256 (hash of the upload), /slow?rate=BYTES_PER_S&bytes=N, /split?parts=P&size=S (the body in P separate writes), /stats (JSON)';

/**
 * Node's own `http` module serving over tuntcp sockets: the proof that the
 * socket API is what the ecosystem expects.
 */
export function startHttp(net: TuntcpNet, options: HttpServiceOptions): Service & { http: http.Server } {
  const httpServer = http.createServer((req, res) => {
    handle(req, res, options).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${err instanceof Error ? err.message : String(err)}\n`);
      } else res.destroy();
    });
  });
  // Requests in progress per connection, so that shutdown can close idle
  // keep-alive connections at once and busy ones after their response.
  const busy = new Map<Socket, number>();
  const closing = new Set<Socket>();
  httpServer.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket as unknown as Socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (busy.get(socket) ?? 1) - 1;
      if (left > 0) busy.set(socket, left);
      else busy.delete(socket);
      if (left <= 0 && closing.has(socket) && socket.writable) socket.end();
    });
  });
  const service = startService(
    net,
    'http',
    options,
    // Node's http.Server handles half-closed connections itself.
    { allowHalfOpen: true },
    (socket) => {
      socket.once('close', () => {
        busy.delete(socket);
        closing.delete(socket);
      });
      httpServer.emit('connection', socket);
    },
    (socket) => {
      closing.add(socket);
      if (!busy.has(socket) && socket.writable) socket.end();
    },
  );
  return Object.assign(service, { http: httpServer });
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, options: HttpServiceOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://tuntcp');
  const bytes = /^\/bytes\/(\d+)$/.exec(url.pathname);
  if (bytes) {
    const size = Number(bytes[1]);
    if (!Number.isSafeInteger(size) || size > MAX_BYTES) return textReply(res, 400, `size out of range (at most ${MAX_BYTES})\n`);
    if (url.searchParams.has('sha256')) {
      if (size > MAX_HASHED_BYTES) return textReply(res, 400, `hashing is offered up to ${MAX_HASHED_BYTES} bytes\n`);
      // The line sha256sum prints for stdin, so `curl URL | sha256sum` compares with diff.
      return textReply(res, 200, `${patternSha256(size)}  -\n`);
    }
    return sendBytes(res, size, 0);
  }
  if (url.pathname === '/sha256' && req.method === 'POST') return hashUpload(req, res);
  if (url.pathname === '/slow') {
    const rate = Number(url.searchParams.get('rate') ?? '1024');
    const size = Number(url.searchParams.get('bytes') ?? String(rate * 10));
    if (!(rate >= 1) || !Number.isFinite(rate) || !Number.isSafeInteger(size) || size < 0 || size > MAX_BYTES) {
      return textReply(res, 400, 'rate must be at least 1 (bytes per second) and bytes a non-negative integer\n');
    }
    return sendBytes(res, size, rate);
  }
  if (url.pathname === '/split') {
    // Write-write-read: the body leaves in `parts` separate small writes, the
    // pattern where Nagle's algorithm meets the client's delayed ACK.
    const parts = Number(url.searchParams.get('parts') ?? '2');
    const size = Number(url.searchParams.get('size') ?? '100');
    if (!Number.isInteger(parts) || parts < 1 || parts > 1000 || !Number.isInteger(size) || size < 1 || size > 65536) {
      return textReply(res, 400, 'parts must be 1..1000 and size 1..65536\n');
    }
    return sendSplit(res, parts, size);
  }
  if (url.pathname === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(options.stats(), null, 2) + '\n');
    return;
  }
  if (options.root !== undefined) return serveFile(res, options.root, url.pathname);
  if (url.pathname === '/') {
    return textReply(
      res,
      200,
      'Hello from tuntcp: this answer crossed a TCP stack written in TypeScript.\n' +
        'Try /bytes/1000000, POST /sha256, /slow?rate=2000, /stats\n',
    );
  }
  return textReply(res, 404, 'not found\n');
}

function textReply(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Streams `size` bytes of the pattern, honouring back-pressure; `rate` > 0 paces it (bytes per second). */
function sendBytes(res: http.ServerResponse, size: number, rate: number): void {
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': size,
    'x-tuntcp-pattern': `xorshift32 blocks of ${PATTERN_BLOCK_SIZE}; expected hash at /bytes/${size}?sha256`,
  });
  if (rate > 0) {
    // Paced: a slice every 100 ms, whatever the reader does (back-pressure
    // only shows if the reader is slower than the pace).
    const tickMs = 100;
    const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
    let sent = 0;
    const timer = setInterval(() => {
      const n = Math.min(perTick, size - sent);
      if (n > 0) res.write(patternBytes(sent, n));
      sent += n;
      if (sent >= size) {
        clearInterval(timer);
        res.end();
      }
    }, tickMs);
    res.on('close', () => clearInterval(timer));
    return;
  }
  const chunks = patternChunks(size);
  let stopped = false;
  res.on('close', () => (stopped = true));
  const pump = (): void => {
    for (;;) {
      if (stopped) return;
      const next = chunks.next();
      if (next.done) {
        res.end();
        return;
      }
      if (!res.write(next.value)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

function sendSplit(res: http.ServerResponse, parts: number, size: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': parts * size });
  let sent = 0;
  const next = (): void => {
    if (res.destroyed) return;
    const chunk = patternBytes(sent * size, size);
    sent++;
    if (sent === parts) res.end(chunk);
    else {
      res.write(chunk);
      // A later turn of the event loop: a separate write() on the socket, as
      // an application that produces its answer piece by piece makes.
      setImmediate(next);
    }
  };
  next();
}

async function hashUpload(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of req) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  textReply(res, 200, `${hash.digest('hex')}  ${length}\n`);
}

async function serveFile(res: http.ServerResponse, root: string, pathname: string): Promise<void> {
  const base = path.resolve(root);
  let target = path.resolve(base, '.' + decodeURIComponent(pathname));
  if (target !== base && !target.startsWith(base + path.sep)) return textReply(res, 403, 'forbidden\n');
  let info = await stat(target).catch(() => null);
  if (info?.isDirectory()) {
    target = path.join(target, 'index.html');
    info = await stat(target).catch(() => null);
  }
  if (!info?.isFile()) return textReply(res, 404, 'not found\n');
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': info.size });
  createReadStream(target).pipe(res);
}

