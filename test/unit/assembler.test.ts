import { describe, expect, it } from 'vitest';
import { Assembler } from '../../src/tcp/buffers/assembler.ts';
import { mulberry32 } from '../../src/link/prng.ts';
import { RingBuffer } from '../../src/tcp/buffers/ring-buffer.ts';

const r = (start: number, end: number) => ({ start, end });

describe('Assembler basics', () => {
  it('starts empty', () => {
    const a = new Assembler();
    expect(a.isEmpty()).toBe(true);
    expect(a.rangeCount).toBe(0);
    expect(a.totalBytes).toBe(0);
    expect(a.removeFront()).toBe(0);
    expect(a.ranges()).toEqual([]);
    expect(a.sackRanges(4)).toEqual([]);
  });

  it('adds in order at the front and removes it', () => {
    const a = new Assembler();
    expect(a.add(0, 4)).toBe(true);
    expect(a.add(4, 4)).toBe(true);
    expect(a.ranges()).toEqual([r(0, 8)]);
    expect(a.removeFront()).toBe(8);
    expect(a.isEmpty()).toBe(true);
    expect(a.removeFront()).toBe(0);
  });

  it('holds out-of-order data until the gap is filled', () => {
    const a = new Assembler();
    expect(a.add(12, 4)).toBe(true);
    expect(a.add(4, 4)).toBe(true);
    expect(a.ranges()).toEqual([r(4, 8), r(12, 16)]);
    expect(a.totalBytes).toBe(8);
    expect(a.removeFront()).toBe(0);
    expect(a.add(0, 4)).toBe(true);
    expect(a.ranges()).toEqual([r(0, 8), r(12, 16)]);
    expect(a.removeFront()).toBe(8);
    // What remains is now relative to the new front.
    expect(a.ranges()).toEqual([r(4, 8)]);
    expect(a.totalBytes).toBe(4);
    expect(a.add(0, 4)).toBe(true);
    expect(a.rangeCount).toBe(1);
    expect(a.removeFront()).toBe(8);
    expect(a.isEmpty()).toBe(true);
  });

  it('filling the last gap yields one range and removeFront returns the total', () => {
    const a = new Assembler();
    a.add(10, 5);
    a.add(2, 3);
    a.add(20, 10);
    a.add(0, 2);
    a.add(5, 5);
    expect(a.ranges()).toEqual([r(0, 15), r(20, 30)]);
    a.add(15, 5);
    expect(a.ranges()).toEqual([r(0, 30)]);
    expect(a.totalBytes).toBe(30);
    expect(a.removeFront()).toBe(30);
    expect(a.isEmpty()).toBe(true);
    expect(a.totalBytes).toBe(0);
  });

  it('merges overlapping additions', () => {
    const a = new Assembler();
    a.add(4, 4);
    a.add(6, 6); // overlaps the end
    expect(a.ranges()).toEqual([r(4, 12)]);
    a.add(2, 4); // overlaps the start
    expect(a.ranges()).toEqual([r(2, 12)]);
    a.add(20, 2);
    a.add(24, 2);
    a.add(1, 30); // covers everything
    expect(a.ranges()).toEqual([r(1, 31)]);
    expect(a.totalBytes).toBe(30);
  });

  it('absorbs contained additions without change', () => {
    const a = new Assembler();
    a.add(4, 10);
    expect(a.add(6, 2)).toBe(true);
    expect(a.add(4, 10)).toBe(true);
    expect(a.ranges()).toEqual([r(4, 14)]);
    expect(a.totalBytes).toBe(10);
  });

  it('merges adjacent ranges on both sides', () => {
    const a = new Assembler();
    a.add(0, 2);
    a.add(4, 2);
    expect(a.rangeCount).toBe(2);
    a.add(2, 2);
    expect(a.ranges()).toEqual([r(0, 6)]);
    a.add(6, 1);
    expect(a.ranges()).toEqual([r(0, 7)]);
  });

  it('treats a zero-length add as a no-op', () => {
    const a = new Assembler();
    expect(a.add(5, 0)).toBe(true);
    expect(a.isEmpty()).toBe(true);
  });

  it('rejects invalid arguments', () => {
    const a = new Assembler();
    expect(() => a.add(-1, 3)).toThrow(RangeError);
    expect(() => a.add(0, -3)).toThrow(RangeError);
    expect(() => a.shift(-1)).toThrow(RangeError);
    expect(() => new Assembler(0)).toThrow(RangeError);
  });

  it('refuses an addition needing more than maxRanges ranges and changes nothing', () => {
    const a = new Assembler(3);
    expect(a.add(2, 1)).toBe(true);
    expect(a.add(6, 1)).toBe(true);
    expect(a.add(10, 1)).toBe(true);
    const before = a.ranges();
    expect(a.add(14, 1)).toBe(false);
    expect(a.add(0, 1)).toBe(false);
    expect(a.ranges()).toEqual(before);
    expect(a.totalBytes).toBe(3);
    // Additions that merge into existing ranges still succeed when full...
    expect(a.add(3, 2)).toBe(true);
    expect(a.ranges()).toEqual([r(2, 5), r(6, 7), r(10, 11)]);
    // ...and one bridging two ranges frees a slot.
    expect(a.add(5, 1)).toBe(true);
    expect(a.ranges()).toEqual([r(2, 7), r(10, 11)]);
    expect(a.add(14, 1)).toBe(true);
    expect(a.rangeCount).toBe(3);
  });

  it('shift() moves the front, clipping and dropping ranges below 0', () => {
    const a = new Assembler();
    a.add(2, 3); // [2,5)
    a.add(8, 4); // [8,12)
    a.add(20, 2); // [20,22)
    a.shift(0);
    expect(a.ranges()).toEqual([r(2, 5), r(8, 12), r(20, 22)]);
    a.shift(5); // first range ends exactly at the new front: gone
    expect(a.ranges()).toEqual([r(3, 7), r(15, 17)]);
    expect(a.totalBytes).toBe(6);
    a.shift(5); // clips [3,7) to [0,2)
    expect(a.ranges()).toEqual([r(0, 2), r(10, 12)]);
    expect(a.totalBytes).toBe(4);
    expect(a.removeFront()).toBe(2);
    expect(a.ranges()).toEqual([r(8, 10)]);
    a.shift(100);
    expect(a.isEmpty()).toBe(true);
    expect(a.totalBytes).toBe(0);
  });

  it('clear() forgets everything', () => {
    const a = new Assembler();
    a.add(3, 3);
    a.add(9, 3);
    a.clear();
    expect(a.isEmpty()).toBe(true);
    expect(a.totalBytes).toBe(0);
    expect(a.add(0, 1)).toBe(true);
    expect(a.removeFront()).toBe(1);
  });

  it('ranges() returns copies', () => {
    const a = new Assembler();
    a.add(3, 3);
    const rs = a.ranges();
    (rs[0] as { start: number }).start = 0;
    expect(a.ranges()).toEqual([r(3, 6)]);
    const s = a.sackRanges(1);
    (s[0] as { end: number }).end = 100;
    expect(a.ranges()).toEqual([r(3, 6)]);
  });
});

describe('Assembler SACK ranges (RFC 2018 §4)', () => {
  it('orders ranges by recency, most recent first', () => {
    const a = new Assembler();
    a.add(10, 2); // A
    a.add(30, 2); // B
    a.add(20, 2); // C
    expect(a.sackRanges(4)).toEqual([r(20, 22), r(30, 32), r(10, 12)]);
    a.add(12, 1); // extends A: A becomes most recent
    expect(a.sackRanges(4)).toEqual([r(10, 13), r(20, 22), r(30, 32)]);
    a.add(31, 1); // duplicate inside B still counts as the latest arrival
    expect(a.sackRanges(4)).toEqual([r(30, 32), r(10, 13), r(20, 22)]);
  });

  it('limits the count to max', () => {
    const a = new Assembler();
    for (let i = 1; i <= 6; i++) a.add(i * 10, 2);
    expect(a.sackRanges(3)).toEqual([r(60, 62), r(50, 52), r(40, 42)]);
    expect(a.sackRanges(0)).toEqual([]);
  });

  it('gives a merged range the newest stamp', () => {
    const a = new Assembler();
    a.add(10, 2);
    a.add(14, 2);
    a.add(30, 2);
    a.add(12, 2); // bridges the first two
    expect(a.sackRanges(4)).toEqual([r(10, 16), r(30, 32)]);
  });

  it('shifts SACK ranges with the front', () => {
    const a = new Assembler();
    a.add(10, 2);
    a.add(0, 4);
    expect(a.removeFront()).toBe(4);
    expect(a.sackRanges(4)).toEqual([r(6, 8)]);
  });
});

describe('Assembler randomized model', () => {
  // Reference: a bitmap of filled offsets relative to the front.
  function modelRanges(bits: boolean[]): { start: number; end: number }[] {
    const out: { start: number; end: number }[] = [];
    for (let i = 0; i < bits.length; i++) {
      if (!bits[i]) continue;
      const start = i;
      while (i < bits.length && bits[i]) i++;
      out.push({ start, end: i });
    }
    return out;
  }

  for (const seed of [3, 99, 31337]) {
    it(`matches a bitmap over 4000 operations (seed ${seed})`, () => {
      const rand = mulberry32(seed);
      const rint = (n: number): number => Math.floor(rand() * n);
      const max = 6;
      const a = new Assembler(max);
      let bits: boolean[] = [];
      for (let op = 0; op < 4000; op++) {
        const k = rint(10);
        if (k < 7) {
          const off = rint(60);
          const len = rint(8);
          const next = bits.slice();
          for (let i = off; i < off + len; i++) next[i] = true;
          const fits = modelRanges(next).length <= max;
          expect(a.add(off, len)).toBe(fits);
          if (fits) bits = next;
        } else if (k < 9) {
          let n = 0;
          while (bits[n]) n++;
          expect(a.removeFront()).toBe(n);
          bits = bits.slice(n);
        } else {
          const n = rint(12);
          a.shift(n);
          bits = bits.slice(n);
        }
        const want = modelRanges(bits);
        expect(a.ranges()).toEqual(want);
        expect(a.rangeCount).toBe(want.length);
        expect(a.totalBytes).toBe(bits.filter(Boolean).length);
        expect(a.isEmpty()).toBe(want.length === 0);
        expect(a.sackRanges(3).length).toBe(Math.min(3, want.length));
      }
    });
  }
});

describe('RingBuffer + Assembler: the receive path', () => {
  // Delivers a stream in shuffled, duplicated, overlapping segments through the
  // documented receiver recipe and checks the application sees it byte-exact.
  it('reassembles a shuffled stream through a small window', () => {
    const rand = mulberry32(5);
    const total = 20000;
    const stream = new Uint8Array(total);
    for (let i = 0; i < total; i++) stream[i] = Math.floor(rand() * 256);

    const rx = new RingBuffer(1024);
    const asm = new Assembler(8);
    let rcvNxt = 0;
    const delivered: number[] = [];
    const readBuf = new Uint8Array(300);
    let rounds = 0;

    while (delivered.length < total) {
      expect(rounds++).toBeLessThan(100000);
      // A segment somewhere in the window, possibly overlapping or duplicate.
      const o = Math.floor(rand() * Math.max(1, rx.free));
      const len = 1 + Math.floor(rand() * 200);
      const seq = rcvNxt + o;
      const payload = stream.subarray(seq, Math.min(total, seq + len));
      if (payload.length > 0) {
        if (o === 0 && asm.isEmpty()) {
          const n = rx.write(payload);
          rcvNxt += n;
        } else {
          const n = rx.writeUnallocated(o, payload);
          if (asm.add(o, n)) {
            const k = asm.removeFront();
            if (k > 0) {
              rx.enqueueUnallocated(k);
              rcvNxt += k;
            }
          }
        }
      }
      // The out-of-order bytes held never exceed the window.
      expect(asm.totalBytes).toBeLessThanOrEqual(rx.free);
      if (rand() < 0.5) {
        const n = rx.read(readBuf.subarray(0, Math.floor(rand() * 300)));
        for (let i = 0; i < n; i++) delivered.push(readBuf[i] as number);
      }
    }
    expect(delivered.length).toBe(total);
    expect(Buffer.from(delivered).equals(Buffer.from(stream))).toBe(true);
  });
});
