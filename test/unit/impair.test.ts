import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ip/address.ts';
import { transportChecksum } from '../../src/ip/checksum.ts';
import { writeIpv4Header } from '../../src/ip/ipv4-header.ts';
import { Ipv4View, checkIpv4 } from '../../src/ip/ipv4.ts';
import { ImpairedLink, REORDER_HOLD_MS } from '../../src/link/impair.ts';
import {
  DEFAULT_IMPAIR_LIMIT,
  defaultImpairSpec,
  formatImpairSpec,
  parseImpairSpec,
  type ImpairSpec,
} from '../../src/link/impair-spec.ts';
import type { Link, PacketBatchHandler } from '../../src/link/link.ts';
import { Prng } from '../../src/link/prng.ts';
import { VirtualScheduler } from '../../src/link/virtual-scheduler.ts';

const SRC = parseIpv4('10.0.0.1');
const DST = parseIpv4('10.0.0.2');

/**
 * A TCP segment with valid checksums whose index is written three times
 * (sequence number, ack number, payload) so that one flipped bit cannot make
 * it pass for another packet.
 */
function segment(index: number, payloadLength = 16): Uint8Array {
  const total = 40 + payloadLength;
  const b = new Uint8Array(total);
  writeIpv4Header(b, { src: SRC, dst: DST, protocol: 6, totalLength: total });
  const v = new DataView(b.buffer);
  v.setUint16(20, 40000);
  v.setUint16(22, 80);
  v.setUint32(24, index);
  v.setUint32(28, index);
  b[32] = 0x50;
  b[33] = 0x18;
  v.setUint16(34, 65535);
  if (payloadLength >= 4) v.setUint32(40, index);
  v.setUint16(36, transportChecksum(SRC, DST, 6, b.subarray(20)));
  return b;
}

function indexOf(p: Uint8Array): number {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const [a, b, c] = [v.getUint32(24), v.getUint32(28), v.getUint32(40)];
  return a === b || a === c ? a : b;
}

function verifies(p: Uint8Array): boolean {
  if (checkIpv4(p) !== null) return false;
  const view = new Ipv4View(p);
  return transportChecksum(view.src, view.dst, view.protocol, view.payload) === 0;
}

function bitDistance(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    let x = a[i]! ^ b[i]!;
    while (x) {
      n += x & 1;
      x >>>= 1;
    }
  }
  return n;
}

/** An inner link that records what is sent and lets the test inject received batches. */
class FakeLink implements Link {
  readonly mtu = 1500;
  sent: { t: number; packet: Uint8Array; original: Uint8Array }[] = [];
  closed = false;
  private handler: PacketBatchHandler | null = null;
  constructor(private readonly s: VirtualScheduler) {}
  send(packet: Uint8Array): void {
    this.sent.push({ t: this.s.now(), packet: packet.slice(), original: packet });
  }
  sendBatch(packets: readonly Uint8Array[]): void {
    for (const p of packets) this.send(p);
  }
  onPackets(handler: PacketBatchHandler): void {
    this.handler = handler;
  }
  inject(batch: readonly Uint8Array[]): void {
    this.handler?.(batch);
  }
  close(): void {
    this.closed = true;
  }
}

function spec(text: string): ImpairSpec {
  return parseImpairSpec(text);
}

interface Arrival {
  t: number;
  index: number;
  packet: Uint8Array;
}

/** Sends `count` segments out through an ImpairedLink, `gapMs` apart, and collects what reaches the wire. */
function runOut(text: string, count: number, gapMs = 0, payloadLength = 16): { arrivals: Arrival[]; link: ImpairedLink; s: VirtualScheduler } {
  const s = new VirtualScheduler();
  const inner = new FakeLink(s);
  const link = new ImpairedLink(inner, s, spec(text));
  for (let i = 0; i < count; i++) {
    if (gapMs > 0) s.runUntil(i * gapMs);
    link.send(segment(i, payloadLength));
  }
  s.runUntilIdle();
  return { arrivals: inner.sent.map((x) => ({ t: x.t, index: indexOf(x.packet), packet: x.packet })), link, s };
}

/** Same, for what the stack receives. */
function runIn(text: string, count: number, gapMs = 0): { arrivals: Arrival[]; link: ImpairedLink } {
  const s = new VirtualScheduler();
  const inner = new FakeLink(s);
  const link = new ImpairedLink(inner, s, spec(text));
  const arrivals: Arrival[] = [];
  link.onPackets((batch) => batch.forEach((p) => arrivals.push({ t: s.now(), index: indexOf(p), packet: p.slice() })));
  for (let i = 0; i < count; i++) {
    if (gapMs > 0) s.runUntil(i * gapMs);
    // A device reuses its read buffer: scribble over it after the callback.
    const buf = segment(i);
    inner.inject([buf]);
    buf.fill(0xee);
  }
  s.runUntilIdle();
  return { arrivals, link };
}

const fingerprint = (arrivals: Arrival[]): string =>
  arrivals.map((a) => `${a.t.toFixed(3)}:${Buffer.from(a.packet).toString('hex')}`).join('|');

describe('ImpairedLink without impairment', () => {
  it('passes packets straight through, synchronously, without copying or scheduling', () => {
    const s = new VirtualScheduler();
    const inner = new FakeLink(s);
    const link = new ImpairedLink(inner, s, defaultImpairSpec());
    const p = segment(1);
    link.send(p);
    expect(inner.sent).toHaveLength(1);
    expect(inner.sent[0]!.original).toBe(p);
    const got: (readonly Uint8Array[])[] = [];
    link.onPackets((batch) => got.push(batch));
    const batch = [segment(2), segment(3)];
    inner.inject(batch);
    expect(got).toEqual([batch]);
    expect(got[0]).toBe(batch);
    expect(s.pending).toBe(0);
    expect(link.stats.out).toMatchObject({ offered: 1, passed: 1 });
    expect(link.stats.in).toMatchObject({ offered: 2, passed: 2 });
  });

  it('impairs one direction only when the spec says in: or out:', () => {
    const s = new VirtualScheduler();
    const inner = new FakeLink(s);
    const link = new ImpairedLink(inner, s, spec('in:delay=10ms'));
    link.send(segment(1));
    expect(inner.sent).toHaveLength(1);
    const got: number[] = [];
    link.onPackets((batch) => batch.forEach(() => got.push(s.now())));
    inner.inject([segment(2)]);
    expect(got).toEqual([]);
    s.runUntilIdle();
    expect(got).toEqual([10]);
  });
});

describe('ImpairedLink is repeatable', () => {
  const mixed = 'loss=10%,dup=10%,corrupt=10%,reorder=10%,delay=5ms,jitter=2ms';

  it('the same seed impairs the same packets the same way, both directions', () => {
    const a = runOut(`${mixed},seed=42`, 500, 0.5);
    const b = runOut(`${mixed},seed=42`, 500, 0.5);
    expect(fingerprint(a.arrivals)).toBe(fingerprint(b.arrivals));
    expect(a.link.stats.out).toEqual(b.link.stats.out);
    const c = runIn(`${mixed},seed=42`, 500, 0.5);
    const d = runIn(`${mixed},seed=42`, 500, 0.5);
    expect(fingerprint(c.arrivals)).toBe(fingerprint(d.arrivals));
    // Each direction has its own streams.
    expect(fingerprint(c.arrivals)).not.toBe(fingerprint(a.arrivals));
  });

  it('different seeds impair differently', () => {
    const a = runOut(`${mixed},seed=1`, 500, 0.5);
    const b = runOut(`${mixed},seed=2`, 500, 0.5);
    expect(fingerprint(a.arrivals)).not.toBe(fingerprint(b.arrivals));
    const lostA = new Set(Array.from({ length: 500 }, (_, i) => i).filter((i) => !a.arrivals.some((x) => x.index === i)));
    const lostB = new Set(Array.from({ length: 500 }, (_, i) => i).filter((i) => !b.arrivals.some((x) => x.index === i)));
    expect(lostA).not.toEqual(lostB);
  });

  it('enabling dup, corrupt, reorder or jitter does not change which packets are lost', () => {
    const lost = (text: string): number[] => {
      const { arrivals } = runOut(text, 2000, 0.1);
      const seen = new Set(arrivals.map((a) => a.index));
      return Array.from({ length: 2000 }, (_, i) => i).filter((i) => !seen.has(i));
    };
    const base = lost('loss=5%,seed=7');
    expect(base.length).toBeGreaterThan(50);
    expect(lost('loss=5%,dup=20%,corrupt=10%,reorder=20%,delay=3ms,jitter=1ms,seed=7')).toEqual(base);
    expect(lost('loss=5%,rate=1gbit,seed=7')).toEqual(base);
  });
});

describe('ImpairedLink rates over 10,000 packets', () => {
  for (const seed of [1, 2, 3]) {
    it(`loss=2%, dup=1%, corrupt=1% stay within bounds (seed ${seed})`, () => {
      const n = 10_000;
      const { arrivals, link } = runOut(`loss=2%,dup=1%,corrupt=1%,seed=${seed}`, n, 0, 4);
      const st = link.stats.out;
      // 2% ± 0.6% is more than 4 standard deviations (sd = 0.14%).
      expect(st.lost).toBeGreaterThanOrEqual(140);
      expect(st.lost).toBeLessThanOrEqual(260);
      // 1% ± 0.4% is 4 sd (sd = 0.1%); dup and corrupt are drawn for every packet offered.
      expect(st.duplicated).toBeGreaterThanOrEqual(60);
      expect(st.duplicated).toBeLessThanOrEqual(140);
      expect(st.corrupted).toBeGreaterThanOrEqual(60);
      expect(st.corrupted).toBeLessThanOrEqual(140);
      expect(st.offered).toBe(n);
      expect(arrivals.length).toBe(n - st.lost + st.duplicated);
      expect(st.passed).toBe(arrivals.length);
      expect(arrivals.filter((a) => !verifies(a.packet)).length).toBe(st.corrupted);
    });
  }
});

describe('ImpairedLink corruption', () => {
  it('flips exactly one bit of a copy, and the IPv4 or TCP checksum catches it', () => {
    const s = new VirtualScheduler();
    const inner = new FakeLink(s);
    const link = new ImpairedLink(inner, s, spec('corrupt=50%,seed=9'));
    const originals = Array.from({ length: 400 }, (_, i) => segment(i, 100));
    const untouched = originals.map((p) => p.slice());
    for (const p of originals) link.send(p);
    expect(inner.sent).toHaveLength(400);
    expect(originals).toEqual(untouched); // the sender's buffers are never modified
    let corrupted = 0;
    let inHeader = 0;
    for (const { packet } of inner.sent) {
      const original = segment(indexOf(packet), 100);
      const d = bitDistance(packet, original);
      if (d === 0) continue;
      corrupted++;
      expect(d).toBe(1);
      expect(verifies(packet)).toBe(false);
      if (checkIpv4(packet) !== null) inHeader++;
    }
    expect(corrupted).toBe(link.stats.out.corrupted);
    expect(corrupted).toBeGreaterThan(150);
    expect(inHeader).toBeGreaterThan(0); // header bits are fair game too
  });

  it('corrupts received packets as a copy as well', () => {
    const { arrivals, link } = runIn('corrupt=100%,seed=3', 50);
    expect(link.stats.in.corrupted).toBe(50);
    for (const a of arrivals) expect(bitDistance(a.packet, segment(indexOf(a.packet)))).toBe(1);
  });
});

describe('ImpairedLink timing', () => {
  it('delay delivers at the right virtual time', () => {
    const { arrivals, link } = runOut('delay=20ms', 5, 3);
    expect(arrivals.map((a) => [a.index, a.t])).toEqual([
      [0, 20],
      [1, 23],
      [2, 26],
      [3, 29],
      [4, 32],
    ]);
    expect(link.stats.out.delayed).toBe(5);
  });

  it('delay works on received packets, which are copied (the device buffer is reused)', () => {
    const { arrivals } = runIn('delay=1.5s', 3, 1);
    expect(arrivals.map((a) => [a.index, a.t])).toEqual([
      [0, 1500],
      [1, 1501],
      [2, 1502],
    ]);
    expect(arrivals.every((a) => verifies(a.packet))).toBe(true);
  });

  it('jitter spreads delays uniformly within ± jitter', () => {
    const { arrivals } = runOut('delay=20ms,jitter=5ms,seed=5', 1000, 0);
    const delays = arrivals.map((a) => a.t);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(15);
    expect(Math.max(...delays)).toBeLessThanOrEqual(25);
    expect(delays.filter((d) => d < 20).length).toBeGreaterThan(400);
    expect(delays.filter((d) => d > 20).length).toBeGreaterThan(400);
  });

  it('rate spaces packets at the configured rate', () => {
    // 1250 bytes at 10 Mbit/s take 1 ms on the wire.
    const { arrivals } = runOut('rate=10mbit', 10, 0, 1210);
    expect(arrivals.map((a) => a.t)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Rate, then propagation delay.
    const late = runOut('rate=10mbit,delay=5ms', 3, 0, 1210);
    expect(late.arrivals.map((a) => a.t)).toEqual([6, 7, 8]);
    // An idle link does not bank credit: a packet after a pause waits its own time only.
    const paced = runOut('rate=10mbit', 3, 10, 1210);
    expect(paced.arrivals.map((a) => a.t)).toEqual([1, 11, 21]);
  });

  it('rate in bytes per second follows tc: 125kbps = 1 Mbit/s', () => {
    const { arrivals } = runOut('rate=125kbps', 2, 0, 1210);
    expect(arrivals.map((a) => a.t)).toEqual([10, 20]);
  });

  it('the rate queue is bounded: tail drops are counted', () => {
    const { arrivals, link } = runOut('rate=10mbit,limit=5', 10, 0, 1210);
    expect(arrivals.map((a) => a.index)).toEqual([0, 1, 2, 3, 4]);
    expect(link.stats.out.queueDropped).toBe(5);
  });

  it('reorder holds chosen packets back so later ones overtake them', () => {
    const { arrivals, link } = runOut('reorder=10%,seed=11', 300, 1);
    const st = link.stats.out;
    expect(st.reordered).toBeGreaterThan(10);
    expect(arrivals).toHaveLength(300);
    // Unchosen packets go straight through; chosen ones arrive REORDER_HOLD_MS late.
    const late = arrivals.filter((a) => a.t !== a.index);
    expect(late.length).toBe(st.reordered);
    for (const a of late) expect(a.t).toBe(a.index + REORDER_HOLD_MS);
    expect(st.delayed).toBe(st.reordered);
    const order = arrivals.map((a) => a.index);
    expect(order).not.toEqual([...order].sort((x, y) => x - y));
    expect(new Set(order).size).toBe(300);
  });

  it('without jitter or reorder, a delayed stream keeps its order', () => {
    const { arrivals } = runOut('delay=7ms,loss=10%,dup=5%,seed=4', 500, 0.25);
    const order = arrivals.map((a) => a.index);
    expect(order).toEqual([...order].sort((x, y) => x - y));
  });

  it('close cancels what is in flight', () => {
    const s = new VirtualScheduler();
    const inner = new FakeLink(s);
    const link = new ImpairedLink(inner, s, spec('delay=10ms'));
    const got: Uint8Array[] = [];
    link.onPackets((b) => got.push(...b));
    link.send(segment(1));
    inner.inject([segment(2)]);
    expect(s.pending).toBe(2);
    link.close();
    expect(inner.closed).toBe(true);
    expect(s.pending).toBe(0);
    s.runUntilIdle();
    expect(inner.sent).toEqual([]);
    expect(got).toEqual([]);
  });
});

describe('parseImpairSpec', () => {
  it('parses the full example', () => {
    const s = parseImpairSpec('loss=2%,delay=20ms,jitter=5ms,reorder=5%,dup=1%,corrupt=0.1%,rate=10mbit,seed=42');
    const d = { loss: 0.02, delayMs: 20, jitterMs: 5, reorder: 0.05, dup: 0.01, corrupt: 0.001, rateBps: 10e6, limit: DEFAULT_IMPAIR_LIMIT };
    expect(s).toEqual({ in: d, out: d, seed: 42 });
  });

  it('applies in: and out: to one direction, later items overriding', () => {
    const s = parseImpairSpec('in:loss=5%,out:delay=10ms');
    expect(s.in).toMatchObject({ loss: 0.05, delayMs: 0 });
    expect(s.out).toMatchObject({ loss: 0, delayMs: 10 });
    const t = parseImpairSpec('loss=1%, in:loss=5%');
    expect([t.in.loss, t.out.loss]).toEqual([0.05, 0.01]);
  });

  it('reads every unit', () => {
    const s = parseImpairSpec('delay=500us,jitter=0.5s,rate=1.5gbit,loss=0.02,dup=0,corrupt=.5%,limit=50');
    expect(s.out).toMatchObject({ delayMs: 0.5, jitterMs: 500, rateBps: 1.5e9, loss: 0.02, dup: 0, corrupt: 0.005, limit: 50 });
    expect(parseImpairSpec('rate=64kbit').out.rateBps).toBe(64_000);
    expect(parseImpairSpec('rate=1mbps').out.rateBps).toBe(8e6);
    expect(parseImpairSpec('rate=9600bit').out.rateBps).toBe(9600);
    expect(parseImpairSpec('loss=100%').out.loss).toBe(1);
  });

  it('treats an empty string or "none" as no impairment', () => {
    expect(parseImpairSpec('')).toEqual(defaultImpairSpec());
    expect(parseImpairSpec(' none ')).toEqual(defaultImpairSpec());
  });

  it.each([
    ['lose=2%', /"lose=2%".*unknown key "lose"/],
    ['loss=2', /"loss=2".*percentage/],
    ['loss=1', /"loss=1"/],
    ['loss=101%', /"loss=101%"/],
    ['loss=-1%', /"loss=-1%"/],
    ['loss=abc', /"loss=abc"/],
    ['delay=20', /"delay=20".*time/],
    ['delay=20min', /"delay=20min"/],
    ['rate=10', /"rate=10".*rate/],
    ['rate=10mb', /"rate=10mb"/],
    ['seed=-3', /"seed=-3"/],
    ['in:seed=3', /"in:seed=3".*both directions/],
    ['up:loss=1%', /"up:loss=1%"/],
    ['loss', /"loss".*key=value/],
    ['loss=1%,,dup=1%', /empty item/],
    ['limit=0', /"limit=0"/],
  ])('rejects %s with a one-line message naming it', (text, message) => {
    let error: unknown;
    try {
      parseImpairSpec(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('formats a spec so that it parses back to the same spec', () => {
    for (const text of [
      'loss=2%,delay=20ms,jitter=5ms,reorder=5%,dup=1%,corrupt=0.1%,rate=10mbit,seed=42',
      'in:loss=5%,out:delay=10ms,seed=3',
      'delay=500us,rate=1.5gbit,limit=20,in:loss=0.3%',
      'delay=2s,rate=64kbit,out:rate=9600bit',
    ]) {
      const s = parseImpairSpec(text);
      expect(parseImpairSpec(formatImpairSpec(s))).toEqual(s);
    }
    expect(formatImpairSpec(parseImpairSpec('loss=2%,delay=20ms,seed=42'))).toBe('loss=2%,delay=20ms,seed=42');
    expect(formatImpairSpec(parseImpairSpec('in:loss=5%,out:delay=10ms'))).toBe('in:loss=5%,out:delay=10ms,seed=1');
    expect(formatImpairSpec(defaultImpairSpec())).toBe('none');
  });
});

describe('Prng', () => {
  it('is deterministic per (seed, stream) and streams differ', () => {
    const draw = (seed: number, stream: number): number[] => {
      const r = new Prng(seed, stream);
      return Array.from({ length: 8 }, () => r.nextUint32());
    };
    expect(draw(42, 0)).toEqual(draw(42, 0));
    expect(draw(42, 0)).not.toEqual(draw(42, 1));
    expect(draw(42, 0)).not.toEqual(draw(43, 0));
  });

  it('is roughly uniform', () => {
    const r = new Prng(99);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[Math.floor(r.nextFloat() * 10)]!++;
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(500);
  });
});
