import { describe, expect, it } from 'vitest';
import { createMemoryLinkPair } from '../../src/link/memory-link.ts';
import { VirtualScheduler } from '../../src/link/virtual-scheduler.ts';

const pkt = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);

function collect(): { batches: { t: number; packets: number[][] }[]; handler: (b: readonly Uint8Array[]) => void; s: VirtualScheduler } {
  const s = new VirtualScheduler();
  const batches: { t: number; packets: number[][] }[] = [];
  return { s, batches, handler: (b) => batches.push({ t: s.now(), packets: b.map((p) => Array.from(p)) }) };
}

describe('memory link pair', () => {
  it('delivers what one end sends to the other, after the latency, in order', () => {
    const { s, batches, handler } = collect();
    const [a, b] = createMemoryLinkPair({ scheduler: s, latencyMs: 5 });
    b.onPackets(handler);
    a.send(pkt(1));
    s.advance(2);
    a.send(pkt(2));
    s.advance(2.9);
    expect(batches).toEqual([]);
    s.runUntilIdle();
    expect(batches).toEqual([
      { t: 5, packets: [[1]] },
      { t: 7, packets: [[2]] },
    ]);
    expect(a.stats.sent).toBe(2);
    expect(b.stats.delivered).toBe(2);
  });

  it('delivers packets due at the same time as one batch', () => {
    const { s, batches, handler } = collect();
    const [a, b] = createMemoryLinkPair({ scheduler: s, latencyMs: 1 });
    b.onPackets(handler);
    a.send(pkt(1));
    a.sendBatch([pkt(2), pkt(3)]);
    s.advance(0.5);
    a.send(pkt(4));
    s.runUntilIdle();
    expect(batches).toEqual([
      { t: 1, packets: [[1], [2], [3]] },
      { t: 1.5, packets: [[4]] },
    ]);
  });

  it('never delivers synchronously, even with zero latency', () => {
    const { s, batches, handler } = collect();
    const [a, b] = createMemoryLinkPair({ scheduler: s });
    b.onPackets(handler);
    a.send(pkt(9));
    expect(batches).toEqual([]);
    s.runUntilIdle();
    expect(batches).toEqual([{ t: 0, packets: [[9]] }]);
  });

  it('works both ways at once', () => {
    const s = new VirtualScheduler();
    const [a, b] = createMemoryLinkPair({ scheduler: s, latencyMs: 3 });
    const atA: number[] = [];
    const atB: number[] = [];
    a.onPackets((batch) => batch.forEach((p) => atA.push(p[0]!)));
    b.onPackets((batch) =>
      batch.forEach((p) => {
        atB.push(p[0]!);
        b.send(pkt(p[0]! + 100)); // answer from inside the handler
      }),
    );
    a.send(pkt(1));
    a.send(pkt(2));
    s.runUntilIdle();
    expect(atB).toEqual([1, 2]);
    expect(atA).toEqual([101, 102]);
    expect(s.now()).toBe(6);
    expect([a.stats.sent, b.stats.sent]).toEqual([2, 2]);
  });

  it('copies on send: the sender may reuse its buffer', () => {
    const { s, batches, handler } = collect();
    const [a, b] = createMemoryLinkPair({ scheduler: s });
    b.onPackets(handler);
    const buf = pkt(1, 2, 3);
    a.send(buf);
    buf.fill(0);
    s.runUntilIdle();
    expect(batches[0]!.packets).toEqual([[1, 2, 3]]);
  });

  it('drops and counts packets larger than the MTU', () => {
    const { s, batches, handler } = collect();
    const [a, b] = createMemoryLinkPair({ scheduler: s, mtu: 100 });
    expect(a.mtu).toBe(100);
    b.onPackets(handler);
    a.send(new Uint8Array(101));
    a.send(new Uint8Array(100));
    s.runUntilIdle();
    expect(batches.map((x) => x.packets[0]!.length)).toEqual([100]);
    expect(a.stats.droppedOversize).toBe(1);
    expect(a.stats.sent).toBe(1);
  });

  it('lets a test tap the wire', () => {
    const s = new VirtualScheduler();
    const [a] = createMemoryLinkPair({ scheduler: s, latencyMs: 2 });
    const seen: [number[], number][] = [];
    s.advance(7);
    a.onSend((p, now) => seen.push([Array.from(p), now]));
    a.send(pkt(5, 6));
    a.send(new Uint8Array(2000)); // oversize: never on the wire
    expect(seen).toEqual([[[5, 6], 7]]);
  });

  it('after close, no handler is called and nothing is sent', () => {
    const { s, batches, handler } = collect();
    const [a, b] = createMemoryLinkPair({ scheduler: s, latencyMs: 1 });
    b.onPackets(handler);
    a.send(pkt(1));
    b.close();
    s.runUntilIdle();
    expect(batches).toEqual([]);
    expect(b.stats.droppedNoReceiver).toBe(1);
    b.send(pkt(2));
    expect(b.stats.sent).toBe(0);
  });

  it('rejects a bad configuration', () => {
    const s = new VirtualScheduler();
    expect(() => createMemoryLinkPair({ scheduler: s, mtu: 0 })).toThrow(RangeError);
    expect(() => createMemoryLinkPair({ scheduler: s, latencyMs: -1 })).toThrow(RangeError);
  });
});
