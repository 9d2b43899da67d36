import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { Server } from '../socket/server.ts';
import type { TuntcpNet } from '../socket/net.ts';

export interface HttpServiceOptions {
  port: number;
  /** Directory served under `/` (files only; no listing outside it). */
  root?: string | undefined;
  /** Snapshot of the stack's stats for `/stats`. */
  stats: () => unknown;
}

const MAX_BYTES = 2 ** 40;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/**
 * Node's own `http` module serving over tuntcp sockets: the proof that the
 * socket API is what the ecosystem expects. Endpoints: files under --root,
 * `/bytes/N` (N bytes, streamed), `POST /sha256`, `/slow?rate=B`, `/stats`.
 */
export function startHttp(net: TuntcpNet, options: HttpServiceOptions): { server: Server; http: http.Server } {
  const httpServer = http.createServer((req, res) => {
    handle(req, res, options).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${err instanceof Error ? err.message : String(err)}\n`);
      } else res.destroy();
    });
  });
  // Node's http.Server keeps half-open connections itself; ours hands it the sockets.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    httpServer.emit('connection', socket);
  });
  server.listen(options.port);
  return { server, http: httpServer };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, options: HttpServiceOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://tuntcp');
  const bytes = /^\/bytes\/(\d+)$/.exec(url.pathname);
  if (bytes) return sendBytes(res, Number(bytes[1]), 0);
  if (url.pathname === '/sha256' && req.method === 'POST') return hashUpload(req, res);
  if (url.pathname === '/slow') {
    const rate = Number(url.searchParams.get('rate') ?? '1024');
    const size = Number(url.searchParams.get('bytes') ?? String(rate * 10));
    if (!(rate > 0) || !(size >= 0)) return textReply(res, 400, 'rate and bytes must be positive numbers\n');
    return sendBytes(res, size, rate);
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

/** Streams `size` bytes, honouring back-pressure; `rate` > 0 paces it (bytes per second). */
function sendBytes(res: http.ServerResponse, size: number, rate: number): void {
  if (!Number.isSafeInteger(size) || size > MAX_BYTES) return textReply(res, 400, 'size out of range\n');
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  let left = size;
  if (rate > 0) {
    const tickMs = 100;
    const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
    const timer = setInterval(() => {
      const n = Math.min(perTick, left);
      left -= n;
      res.write(CHUNK.subarray(0, Math.min(n, CHUNK.length)));
      if (n > CHUNK.length) res.write(Buffer.alloc(n - CHUNK.length, 'x'));
      if (left === 0) {
        clearInterval(timer);
        res.end();
      }
    }, tickMs);
    res.on('close', () => clearInterval(timer));
    return;
  }
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
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
