// Two Tcp instances back to back through an in-test link, in virtual time:
// bulk transfer both ways, byte-exact, with slow readers, tiny buffers, loss.
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ip/address.ts';
import { checkIpv4, Ipv4View } from '../../src/ip/ipv4.ts';
import type { TcpConnection } from '../../src/tcp/api.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { Tcp } from '../../src/tcp/tcp.ts';
import { assertSameBytes } from '../helpers/tcp-peer.ts';

interface InFlight {
  at: number;
  order: number;
  to: Tcp;
  packet: Uint8Array;
}

interface Task {
  at: number;
  every: number;
  fn: () => void;
}

/** A link with a fixed one-way delay, optional seeded loss, and periodic application tasks. */
class Wire {
  now = 0;
  readonly a: Tcp;
  readonly b: Tcp;
  readonly addrA = parseIpv4('10.0.0.1');
  readonly addrB = parseIpv4('10.0.0.2');
  private queue: InFlight[] = [];
  private order = 0;
  private tasks: Task[] = [];
  private seed = 1;
  delivered = 0;
  dropped = 0;
  maxQueued = 0;
  maxPayload = 0;

  constructor(
    config: Partial<TcpConfig>,
    readonly delay = 1,
    readonly lossRate = 0,
    readonly mtu = 1500,
  ) {
    let ra = 11;
    let rb = 29;
    this.a = new Tcp({ localAddress: this.addrA, mtu, send: (p) => this.transmit(this.b, p), config, random: () => ((ra = (ra * 48271) % 2147483647) / 2147483647) });
    this.b = new Tcp({ localAddress: this.addrB, mtu, send: (p) => this.transmit(this.a, p), config, random: () => ((rb = (rb * 48271) % 2147483647) / 2147483647) });
  }

  private rand(): number {
    this.seed = (this.seed * 1103515245 + 12345) & 0x7fffffff;
    return this.seed / 0x80000000;
  }

  private transmit(to: Tcp, packet: Uint8Array): void {
    if (checkIpv4(packet) !== null || packet.length > this.mtu) throw new Error('invalid packet on the wire');
    const ip = new Ipv4View(packet);
    this.maxPayload = Math.max(this.maxPayload, ip.payload.length - ((ip.payload[12]! >>> 4) * 4));
    if (this.lossRate > 0 && this.rand() < this.lossRate) {
      this.dropped++;
      return;
    }
    this.queue.push({ at: this.now + this.delay, order: this.order++, to, packet });
    this.maxQueued = Math.max(this.maxQueued, this.queue.length);
  }

  every(ms: number, fn: () => void): void {
    this.tasks.push({ at: this.now + ms, every: ms, fn });
  }

  /** Runs until `done()` or `limit` virtual ms; returns the virtual time reached. */
  run(done: () => boolean, limit: number): number {
    while (!done()) {
      const nextPacket = this.queue.length > 0 ? Math.min(...this.queue.map((p) => p.at)) : Infinity;
      const nextTask = this.tasks.length > 0 ? Math.min(...this.tasks.map((t) => t.at)) : Infinity;
      const t = Math.min(nextPacket, nextTask, this.a.nextDeadline(), this.b.nextDeadline());
      if (t === Infinity || t > limit) break;
      this.now = Math.max(this.now, t);
      const due = this.queue.filter((p) => p.at <= this.now).sort((x, y) => x.at - y.at || x.order - y.order);
      this.queue = this.queue.filter((p) => p.at > this.now);
      for (const p of due) {
        this.delivered++;
        p.to.input(new Ipv4View(p.packet), this.now);
      }
      this.a.poll(this.now);
      this.b.poll(this.now);
      for (const task of this.tasks) {
        if (task.at <= this.now) {
          task.at = this.now + task.every;
          task.fn();
        }
      }
    }
    return this.now;
  }
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** One side of the transfer: writes `data` as fast as the send ring takes it, reads `readChunk` every `readEveryMs`. */
class Endpoint {
  written = 0;
  readonly received: Uint8Array;
  receivedLen = 0;
  ended = false;
  closed: string | null = null;
  private readonly buf: Uint8Array;

  constructor(
    readonly wire: Wire,
    readonly conn: TcpConnection,
    readonly data: Uint8Array,
    expectLen: number,
    readChunk: number,
    readEveryMs: number,
  ) {
    this.received = new Uint8Array(expectLen);
    this.buf = new Uint8Array(readChunk);
    conn.events = {
      onEstablished: () => this.pump(),
      onReadable: () => {},
      onWritable: () => this.pump(),
      onEnd: () => {
        this.ended = true;
      },
      onClose: (e) => {
        this.closed = e === null ? 'ok' : e.code;
      },
    };
    wire.every(readEveryMs, () => this.readSome());
  }

  pump(): void {
    while (this.written < this.data.length && this.conn.state !== 'SYN-SENT') {
      const n = this.conn.write(this.data.subarray(this.written), this.wire.now);
      if (n === 0) return;
      this.written += n;
      if (this.written === this.data.length) this.conn.shutdown(this.wire.now);
    }
  }

  readSome(): void {
    const n = this.conn.read(this.buf, this.wire.now);
    this.received.set(this.buf.subarray(0, n), this.receivedLen);
    this.receivedLen += n;
    this.pump();
  }

  get done(): boolean {
    return this.ended && this.receivedLen === this.received.length && this.conn.readableLength === 0;
  }
}

function transfer(options: {
  size: number;
  config: Partial<TcpConfig>;
  readChunk: number;
  readEveryMs: number;
  delay?: number;
  loss?: number;
  limit: number;
}): { wire: Wire; client: Endpoint; server: Endpoint; time: number } {
  const wire = new Wire(options.config, options.delay ?? 1, options.loss ?? 0);
  const listener = wire.b.listen({ address: 0, port: 7 });
  const up = pattern(options.size, 1);
  const down = pattern(options.size, 2);
  const clientConn = wire.a.connect({ remoteAddress: wire.addrB, remotePort: 7 }, 0);
  const client = new Endpoint(wire, clientConn, up, options.size, options.readChunk, options.readEveryMs);
  let server: Endpoint | undefined;
  listener.onAcceptable = () => {
    const conn = listener.accept();
    if (conn !== undefined) {
      server = new Endpoint(wire, conn, down, options.size, options.readChunk, options.readEveryMs);
      server.pump();
    }
  };
  const time = wire.run(() => client.done && server !== undefined && server.done && client.closed !== null && server.closed !== null, options.limit);
  expect(server).toBeDefined();
  return { wire, client, server: server!, time };
}

describe('two stacks back to back', () => {
  it('1 MB each way, byte-exact, with a slowly reading application', () => {
    const size = 1 << 20;
    const { wire, client, server, time } = transfer({ size, config: {}, readChunk: 4000, readEveryMs: 2, limit: 60_000 });
    expect(client.receivedLen).toBe(size);
    expect(server.receivedLen).toBe(size);
    assertSameBytes(client.received, pattern(size, 2));
    assertSameBytes(server.received, pattern(size, 1));
    // The reader is the bottleneck: 4000 bytes per 2 ms = 2 MB/s, so about 0.5 s.
    expect(time).toBeGreaterThan(500);
    expect(time).toBeLessThan(2000);
    // The receive windows closed and reopened: the readers, not the wire, set the pace.
    expect(wire.a.stats.retransmittedSegments + wire.b.stats.retransmittedSegments).toBe(0);
    expect(client.closed).toBe('ok');
    expect(server.closed).toBe('ok');
    // One side is in TIME-WAIT, the other is gone; after 2*MSL both are empty.
    wire.run(() => false, time + 61_000);
    expect(wire.a.connectionCount + wire.b.connectionCount).toBe(0);
  });

  it('1 MB each way with 1 KiB buffers', () => {
    const size = 1 << 20;
    const config = { rcvBuf: 1024, sndBuf: 1024 };
    const { client, server, wire, time } = transfer({ size, config, readChunk: 700, readEveryMs: 1, limit: 600_000 });
    // Half-window segments and ACK-on-drain keep it from waiting on delayed ACKs.
    expect(time).toBeLessThan(10_000);
    assertSameBytes(client.received, pattern(size, 2));
    assertSameBytes(server.received, pattern(size, 1));
    // No segment larger than the 1 KiB window, and no more in flight than it allows.
    expect(wire.maxPayload).toBeLessThanOrEqual(1024);
    expect(wire.maxQueued).toBeLessThanOrEqual(8);
  });

  it('256 KB each way over a link losing 3% of packets (RTO recovery only)', () => {
    const size = 256 * 1024;
    const { client, server, wire, time } = transfer({ size, config: {}, readChunk: 65536, readEveryMs: 1, loss: 0.03, delay: 5, limit: 3_600_000 });
    expect(time).toBeLessThan(60_000);
    expect(wire.dropped).toBeGreaterThan(10);
    assertSameBytes(client.received, pattern(size, 2));
    assertSameBytes(server.received, pattern(size, 1));
    expect(wire.a.stats.retransmittedSegments + wire.b.stats.retransmittedSegments).toBeGreaterThan(0);
  });

  it('an MTU of 576 on both sides keeps every packet within it', () => {
    const wire = new Wire({}, 1, 0, 576);
    const listener = wire.b.listen({ address: 0, port: 7 });
    const data = pattern(100_000, 5);
    const conn = wire.a.connect({ remoteAddress: wire.addrB, remotePort: 7 }, 0);
    const client = new Endpoint(wire, conn, data, 0, 1, 1000);
    let server: Endpoint | undefined;
    listener.onAcceptable = () => {
      server = new Endpoint(wire, listener.accept()!, new Uint8Array(0), data.length, 100_000, 1);
      server.conn.shutdown(wire.now);
    };
    wire.run(() => server !== undefined && server.done, 60_000);
    assertSameBytes(server!.received, data);
    expect(client.conn.getInfo().mss).toBe(536);
  });
});
