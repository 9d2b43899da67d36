import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { StackError } from '../../src/errors.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { VirtualNet } from '../helpers/virtual-net.ts';
import { pattern, sha256 as sha } from '../helpers/data.ts';

/** Collects what a socket delivers. */
function collect(socket: Socket): { chunks: Buffer[]; ended: boolean; bytes(): Buffer } {
  const state = { chunks: [] as Buffer[], ended: false, bytes: () => Buffer.concat(state.chunks) };
  socket.on('data', (d: Buffer) => state.chunks.push(d));
  socket.on('end', () => (state.ended = true));
  return state;
}

/** Window field of every TCP segment host B sends, read off the wire. */
function watchWindows(vnet: VirtualNet, from: 'a' | 'b'): number[] {
  const windows: number[] = [];
  vnet[from].link.onSend((packet) => {
    const ihl = (packet[0]! & 0x0f) * 4;
    if (packet[9] !== 6) return;
    windows.push((packet[ihl + 14]! << 8) | packet[ihl + 15]!);
  });
  return windows;
}

describe('socket API over two stacks in virtual time', () => {
  it('echoes data and both sides see end and close', async () => {
    const vnet = new VirtualNet();
    vnet.b.net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s)).listen(7);
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 7 });
    let connected = false;
    client.on('connect', () => (connected = true));
    const got = collect(client);
    let closed = false;
    client.on('close', () => (closed = true));
    client.end('hello, tuntcp');
    await vnet.until(() => closed, 10_000);
    expect(connected).toBe(true);
    expect(got.bytes().toString()).toBe('hello, tuntcp');
    expect(got.ended).toBe(true);
    expect(client.bytesRead).toBe(13);
    expect(client.remoteAddress).toBe('10.0.0.2');
    expect(client.remotePort).toBe(7);
    expect(client.localAddress).toBe('10.0.0.1');
  });

  it('moves 10 MB each way byte-exact while the readers are slow: the window closes and reopens', async () => {
    const vnet = new VirtualNet();
    const size = 10 * 1024 * 1024;
    const up = pattern(size, 1);
    const down = pattern(size, 2);
    const bWindows = watchWindows(vnet, 'b');
    let serverGot: Buffer[] = [];
    let serverEnded = false;
    vnet.b.net
      .createServer({ allowHalfOpen: true }, (s) => {
        s.on('data', (d: Buffer) => serverGot.push(d));
        s.on('end', () => (serverEnded = true));
        s.end(down);
        // The server application reads in bursts: paused for 50 ms out of every 60.
        const cycle = (): void => {
          s.pause();
          vnet.scheduler.at(vnet.now() + 50, () => {
            s.resume();
            if (!serverEnded) vnet.scheduler.at(vnet.now() + 10, cycle);
          });
        };
        cycle();
      })
      .listen(5001);
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 5001 });
    const got = collect(client);
    client.end(up);
    await vnet.until(() => got.ended && serverEnded, 3_600_000);
    expect(sha(Buffer.concat(serverGot))).toBe(sha(up));
    expect(sha(got.bytes())).toBe(sha(down));
    // The slow server closed its window (zero advertised) and opened it again many times.
    const zeroes = bWindows.filter((w, i) => w === 0 && i > 0 && bWindows[i - 1] !== 0).length;
    expect(zeroes).toBeGreaterThan(10);
    serverGot = [];
  }, 120_000);

  it('works with 1 KiB buffers on both sides', async () => {
    const vnet = new VirtualNet({ tcpA: { rcvBuf: 1024, sndBuf: 1024 }, tcpB: { rcvBuf: 1024, sndBuf: 1024 } });
    const size = 256 * 1024;
    const data = pattern(size, 3);
    vnet.b.net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s)).listen(7);
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 7 });
    const got = collect(client);
    client.end(data);
    await vnet.until(() => got.ended, 3_600_000);
    expect(sha(got.bytes())).toBe(sha(data));
  }, 60_000);

  it('write() returns false when the send buffer is full, and drain follows', async () => {
    // Small rings on both sides, so the paused reader's window closes long before
    // the writer's send ring plus the stream's own buffer are full.
    const vnet = new VirtualNet({ tcpA: { sndBuf: 8192 }, tcpB: { rcvBuf: 4096 } });
    let serverSocket: Socket | undefined;
    vnet.b.net.createServer((s) => {
      serverSocket = s;
      s.pause(); // the peer does not read: its window closes, our ring fills
    }).listen(9);
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 9 });
    await vnet.until(() => serverSocket !== undefined, 5_000);
    let writes = 0;
    while (client.write(Buffer.alloc(4096, 1))) {
      writes += 1;
      expect(writes).toBeLessThan(1000);
    }
    let drained = false;
    client.on('drain', () => (drained = true));
    await vnet.run(1_000);
    expect(drained).toBe(false);
    serverSocket!.resume();
    await vnet.until(() => drained, 10_000);
  });

  it('refuses a connection to a closed port with ECONNREFUSED', async () => {
    const vnet = new VirtualNet();
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 4444 });
    let error: unknown;
    client.on('error', (e) => (error = e));
    await vnet.until(() => error !== undefined, 5_000);
    expect((error as StackError).code).toBe('ECONNREFUSED');
  });

  it('reports EADDRINUSE for a second listener on a port', async () => {
    const vnet = new VirtualNet();
    vnet.b.net.createServer(() => undefined).listen(80);
    const second = vnet.b.net.createServer(() => undefined).listen(80);
    let error: unknown;
    second.on('error', (e) => (error = e));
    await vnet.run(1);
    expect((error as StackError).code).toBe('EADDRINUSE');
  });

  it('destroy() with unread data resets the peer: ECONNRESET', async () => {
    const vnet = new VirtualNet();
    let serverSocket: Socket | undefined;
    vnet.b.net.createServer((s) => (serverSocket = s)).listen(9);
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 9 });
    let error: unknown;
    client.on('error', (e) => (error = e));
    await vnet.until(() => serverSocket !== undefined, 5_000);
    serverSocket!.pause();
    client.write('unread');
    await vnet.run(100);
    serverSocket!.destroy();
    await vnet.until(() => error !== undefined, 5_000);
    expect((error as StackError).code).toBe('ECONNRESET');
  });

  it('destroy() with nothing unread closes with FIN, as close(2) does (Node http destroys idle keep-alive sockets)', async () => {
    const vnet = new VirtualNet();
    let serverSocket: Socket | undefined;
    vnet.b.net.createServer((s) => (serverSocket = s)).listen(9);
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 9 });
    const got = collect(client);
    let error: unknown;
    client.on('error', (e) => (error = e));
    await vnet.until(() => serverSocket !== undefined, 5_000);
    serverSocket!.write('last words');
    serverSocket!.destroy();
    await vnet.until(() => got.ended, 5_000);
    expect(got.bytes().toString()).toBe('last words');
    expect(error).toBeUndefined();
  });

  it('half-close: the client ends, the server still sends, then ends', async () => {
    const vnet = new VirtualNet();
    vnet.b.net
      .createServer({ allowHalfOpen: true }, (s) => {
        s.resume();
        s.on('end', () => {
          // The client's FIN arrived; this side can still write.
          s.write('after your FIN, ');
          vnet.scheduler.at(vnet.now() + 500, () => s.end('goodbye'));
        });
      })
      .listen(7);
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 7, allowHalfOpen: true });
    const got = collect(client);
    client.end('bye');
    await vnet.until(() => got.ended, 10_000);
    expect(got.bytes().toString()).toBe('after your FIN, goodbye');
  });

  it("serves Node's own http module, and Node's http client runs over it", async () => {
    const vnet = new VirtualNet();
    const httpServer = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        res.setHeader('content-type', 'text/plain');
        res.end(`${req.method} ${req.url} ${body.length}`);
      });
    });
    vnet.b.net.createServer({ allowHalfOpen: true }, (s) => httpServer.emit('connection', s)).listen(80);
    let status = 0;
    let text = '';
    let done = false;
    const req = http.request(
      {
        method: 'POST',
        path: '/hello',
        headers: { host: '10.0.0.2' },
        createConnection: () => vnet.a.net.connect({ host: '10.0.0.2', port: 80 }),
      },
      (res) => {
        status = res.statusCode ?? 0;
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => (done = true));
      },
    );
    req.end('x'.repeat(100_000));
    await vnet.until(() => done, 60_000);
    expect(status).toBe(200);
    expect(text).toBe('POST /hello 100000');
    httpServer.close();
  });
});
