import { describe, expect, it } from 'vitest';
// A deterministic PRNG (mulberry32), so a failing randomized run reproduces exactly.
import { mulberry32 } from '../../src/link/prng.ts';
import { RingBuffer } from '../../src/tcp/buffers/ring-buffer.ts';

function bytes(from: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) & 0xff;
  return b;
}

function drain(rb: RingBuffer): number[] {
  const out = new Uint8Array(rb.length);
  expect(rb.read(out)).toBe(out.length);
  return [...out];
}

describe('RingBuffer construction', () => {
  it('holds exactly the capacity asked for, over power-of-two storage', () => {
    for (const asked of [1, 2, 3, 1000, 65536, 65537]) {
      const ring = new RingBuffer(asked);
      expect(ring.capacity).toBe(asked);
      expect(ring.write(new Uint8Array(asked + 10))).toBe(asked);
      expect(ring.isFull()).toBe(true);
      expect(ring.free).toBe(0);
      let storage = 1;
      while (storage < asked) storage *= 2;
      expect(ring.allocatedBytes).toBe(storage);
    }
    expect(new RingBuffer(1 << 30).capacity).toBe(1 << 30);
  });

  it('wraps correctly when the capacity is not a power of two', () => {
    const ring = new RingBuffer(1000);
    const model: number[] = [];
    let next = 0;
    for (let round = 0; round < 50; round++) {
      const chunk = Uint8Array.from({ length: 700 }, () => next++ & 0xff);
      const n = ring.write(chunk);
      model.push(...chunk.subarray(0, n));
      const out = new Uint8Array(650);
      const m = ring.read(out);
      expect([...out.subarray(0, m)]).toEqual(model.splice(0, m));
      expect(ring.length).toBeLessThanOrEqual(1000);
    }
  });

  it('rejects capacities out of range', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
    expect(() => new RingBuffer(-5)).toThrow(RangeError);
    expect(() => new RingBuffer((1 << 30) + 1)).toThrow(RangeError);
    expect(() => new RingBuffer(1.5)).toThrow(RangeError);
    expect(() => new RingBuffer(Number.NaN)).toThrow(RangeError);
  });

  it('allocates storage lazily, on the first write, and keeps it', () => {
    const rb = new RingBuffer(65536);
    expect(rb.allocatedBytes).toBe(0);
    // Nothing that stores no byte allocates.
    expect(rb.read(new Uint8Array(10))).toBe(0);
    expect(rb.peek(0, new Uint8Array(10))).toBe(0);
    expect(rb.discard(10)).toBe(0);
    expect(rb.write(new Uint8Array(0))).toBe(0);
    expect(rb.writeUnallocated(0, new Uint8Array(0))).toBe(0);
    rb.enqueueUnallocated(0);
    rb.clear();
    expect(rb.allocatedBytes).toBe(0);

    expect(rb.write(bytes(0, 3))).toBe(3);
    expect(rb.allocatedBytes).toBe(65536);
    drain(rb);
    rb.clear();
    expect(rb.allocatedBytes).toBe(65536);
  });

  it('allocates on the first out-of-order write too', () => {
    const rb = new RingBuffer(16);
    expect(rb.writeUnallocated(5, bytes(1, 2))).toBe(2);
    expect(rb.allocatedBytes).toBe(16);
    expect(rb.length).toBe(0);
  });
});

describe('RingBuffer queue', () => {
  it('reports empty and full at the edges', () => {
    const rb = new RingBuffer(8);
    expect(rb.isEmpty()).toBe(true);
    expect(rb.isFull()).toBe(false);
    expect(rb.free).toBe(8);
    expect(rb.write(bytes(0, 8))).toBe(8);
    expect(rb.isFull()).toBe(true);
    expect(rb.isEmpty()).toBe(false);
    expect(rb.free).toBe(0);
    expect(rb.write(bytes(0, 1))).toBe(0);
    expect(drain(rb)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(rb.isEmpty()).toBe(true);
    expect(rb.read(new Uint8Array(4))).toBe(0);
  });

  it('writes only what fits and reads only what is stored', () => {
    const rb = new RingBuffer(8);
    expect(rb.write(bytes(10, 5))).toBe(5);
    expect(rb.write(bytes(15, 5))).toBe(3);
    expect(rb.length).toBe(8);
    const big = new Uint8Array(20).fill(0xee);
    expect(rb.read(big)).toBe(8);
    expect([...big.subarray(0, 8)]).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
    // Bytes past the count are left untouched.
    expect(big[8]).toBe(0xee);
  });

  it('wraps around: a write and a read split across the end of storage', () => {
    const rb = new RingBuffer(8);
    rb.write(bytes(0, 6));
    expect(rb.read(new Uint8Array(5))).toBe(5); // head at 5
    expect(rb.write(bytes(100, 7))).toBe(7); // tail wraps
    expect(rb.isFull()).toBe(true);
    expect(drain(rb)).toEqual([5, 100, 101, 102, 103, 104, 105, 106]);
  });

  it('discards from the head', () => {
    const rb = new RingBuffer(8);
    rb.write(bytes(0, 8));
    expect(rb.discard(3)).toBe(3);
    expect(rb.length).toBe(5);
    expect(rb.discard(0)).toBe(0);
    expect(rb.discard(-1)).toBe(0);
    rb.write(bytes(50, 3)); // wraps
    expect(rb.discard(100)).toBe(8);
    expect(rb.isEmpty()).toBe(true);
    rb.write(bytes(7, 2));
    expect(drain(rb)).toEqual([7, 8]);
  });

  it('survives many fill/drain cycles around the wrap with random sizes', () => {
    const rand = mulberry32(42);
    const rb = new RingBuffer(100); // 100 bytes over 128 of storage: the wrap point and the limit differ
    const model: number[] = [];
    let next = 0;
    for (let i = 0; i < 2000; i++) {
      const w = Math.floor(rand() * 140);
      const src = bytes(next, w);
      const wrote = rb.write(src);
      expect(wrote).toBe(Math.min(w, 100 - model.length));
      for (let j = 0; j < wrote; j++) model.push(src[j] as number);
      next += wrote;
      const r = Math.floor(rand() * 140);
      const dst = new Uint8Array(r);
      const got = rb.read(dst);
      const want = model.splice(0, r);
      expect(got).toBe(want.length);
      expect([...dst.subarray(0, got)]).toEqual(want);
      expect(rb.length).toBe(model.length);
    }
  });
});

describe('RingBuffer peek', () => {
  it('reads at offsets across the wrap without consuming', () => {
    const rb = new RingBuffer(8);
    rb.write(bytes(0, 6));
    rb.discard(6); // head at 6
    rb.write(bytes(20, 7)); // positions 6,7,0,1,2,3,4
    const d = new Uint8Array(4);
    expect(rb.peek(0, d)).toBe(4);
    expect([...d]).toEqual([20, 21, 22, 23]);
    expect(rb.peek(1, d)).toBe(4);
    expect([...d]).toEqual([21, 22, 23, 24]);
    expect(rb.peek(2, d)).toBe(4); // starts past the wrap point
    expect([...d]).toEqual([22, 23, 24, 25]);
    expect(rb.peek(5, d)).toBe(2); // clipped to length
    expect([...d.subarray(0, 2)]).toEqual([25, 26]);
    expect(rb.peek(7, d)).toBe(0);
    expect(rb.peek(100, d)).toBe(0);
    expect(rb.peek(3, new Uint8Array(0))).toBe(0);
    expect(rb.length).toBe(7);
    expect(drain(rb)).toEqual([20, 21, 22, 23, 24, 25, 26]);
  });

  it('rejects a negative offset', () => {
    const rb = new RingBuffer(8);
    rb.write(bytes(0, 4));
    expect(() => rb.peek(-1, new Uint8Array(1))).toThrow(RangeError);
  });
});

describe('RingBuffer unallocated space', () => {
  it('writes past the tail without growing length until enqueued', () => {
    const rb = new RingBuffer(16);
    rb.write(bytes(0, 4));
    expect(rb.writeUnallocated(3, bytes(60, 2))).toBe(2); // hole at 0..3
    expect(rb.length).toBe(4);
    expect(rb.writeUnallocated(0, bytes(50, 3))).toBe(3);
    rb.enqueueUnallocated(5);
    expect(rb.length).toBe(9);
    expect(drain(rb)).toEqual([0, 1, 2, 3, 50, 51, 52, 60, 61]);
  });

  it('clips to free space and returns 0 at or beyond it', () => {
    const rb = new RingBuffer(8);
    rb.write(bytes(0, 5)); // free 3
    expect(rb.writeUnallocated(3, bytes(9, 1))).toBe(0);
    expect(rb.writeUnallocated(10, bytes(9, 1))).toBe(0);
    expect(rb.writeUnallocated(1, bytes(9, 10))).toBe(2);
    expect(rb.writeUnallocated(0, new Uint8Array(0))).toBe(0);
    expect(() => rb.writeUnallocated(-1, bytes(0, 1))).toThrow(RangeError);
  });

  it('writes and enqueues across the wrap', () => {
    const rb = new RingBuffer(8);
    rb.write(bytes(0, 5));
    rb.discard(5); // head = tail = 5, empty
    expect(rb.writeUnallocated(2, bytes(30, 4))).toBe(4); // positions 7,0,1,2
    expect(rb.writeUnallocated(0, bytes(20, 2))).toBe(2); // positions 5,6
    rb.enqueueUnallocated(6);
    expect(drain(rb)).toEqual([20, 21, 30, 31, 32, 33]);
  });

  it('keeps out-of-order bytes in place when the stored bytes are read to empty', () => {
    // The receive path reads all in-order data while out-of-order data waits
    // past the tail: the tail must not move under it.
    const rb = new RingBuffer(8);
    rb.write(bytes(0, 3));
    expect(rb.writeUnallocated(1, bytes(40, 2))).toBe(2);
    drain(rb);
    expect(rb.writeUnallocated(0, bytes(39, 1))).toBe(1);
    rb.enqueueUnallocated(3);
    expect(drain(rb)).toEqual([39, 40, 41]);
  });

  it('rejects enqueueing more than the free space', () => {
    const rb = new RingBuffer(8);
    rb.write(bytes(0, 6));
    expect(() => rb.enqueueUnallocated(3)).toThrow(RangeError);
    expect(() => rb.enqueueUnallocated(-1)).toThrow(RangeError);
    expect(rb.length).toBe(6);
    rb.enqueueUnallocated(2);
    expect(rb.isFull()).toBe(true);
  });

  it('clear() forgets the bytes', () => {
    const rb = new RingBuffer(8);
    rb.write(bytes(0, 7));
    rb.discard(2);
    rb.clear();
    expect(rb.length).toBe(0);
    expect(rb.free).toBe(8);
    rb.write(bytes(90, 8));
    expect(drain(rb)).toEqual([90, 91, 92, 93, 94, 95, 96, 97]);
  });
});

describe('RingBuffer randomized model', () => {
  // Reference: `stored` is the queue; `pending` holds bytes written into the
  // unallocated space, indexed by offset past the tail.
  for (const seed of [1, 7, 2024]) {
    it(`matches a byte-array model over 5000 operations (seed ${seed})`, () => {
      const rand = mulberry32(seed);
      const cap = 64;
      const rb = new RingBuffer(cap);
      let stored: number[] = [];
      let pending: (number | undefined)[] = [];
      let counter = 0;
      const rint = (n: number): number => Math.floor(rand() * n);
      const fresh = (n: number): Uint8Array => {
        const b = bytes(counter, n);
        counter += n;
        return b;
      };

      for (let op = 0; op < 5000; op++) {
        const free = cap - stored.length;
        switch (rint(6)) {
          case 0: {
            const src = fresh(rint(80));
            const n = rb.write(src);
            expect(n).toBe(Math.min(src.length, free));
            stored.push(...src.subarray(0, n));
            // In-order data occupies the space the unallocated bytes were in.
            pending = pending.slice(n);
            break;
          }
          case 1: {
            const dst = new Uint8Array(rint(80));
            const n = rb.read(dst);
            const want = stored.slice(0, dst.length);
            stored = stored.slice(want.length);
            expect(n).toBe(want.length);
            expect([...dst.subarray(0, n)]).toEqual(want);
            break;
          }
          case 2: {
            const k = rint(80);
            const n = rb.discard(k);
            expect(n).toBe(Math.min(k, stored.length));
            stored = stored.slice(n);
            break;
          }
          case 3: {
            const off = rint(80);
            const dst = new Uint8Array(rint(40));
            const n = rb.peek(off, dst);
            const want = stored.slice(off, off + dst.length);
            expect(n).toBe(want.length);
            expect([...dst.subarray(0, n)]).toEqual(want);
            break;
          }
          case 4: {
            const off = rint(70);
            const src = fresh(rint(40));
            const n = rb.writeUnallocated(off, src);
            expect(n).toBe(off >= free ? 0 : Math.min(src.length, free - off));
            for (let i = 0; i < n; i++) pending[off + i] = src[i] as number;
            break;
          }
          case 5: {
            // Commit only a prefix whose bytes were all written, as the
            // receiver does when the assembler reports them contiguous.
            let k = 0;
            while (k < free && pending[k] !== undefined) k++;
            k = rint(k + 1);
            rb.enqueueUnallocated(k);
            stored.push(...(pending.slice(0, k) as number[]));
            pending = pending.slice(k);
            break;
          }
        }
        expect(rb.length).toBe(stored.length);
        expect(rb.free).toBe(cap - stored.length);
      }
      expect(drain(rb)).toEqual(stored);
    });
  }
});

describe('RingBuffer storage reuse', () => {
  it('gives empty storage back zeroed, keeps storage that still holds data', () => {
    const a = new RingBuffer(4096);
    a.write(new Uint8Array(100).fill(0xab));
    a.releaseStorage(); // holds data: keeps it
    expect(a.allocatedBytes).toBe(4096);
    const out = new Uint8Array(100);
    a.read(out);
    expect(out.every((b) => b === 0xab)).toBe(true);
    a.releaseStorage();
    expect(a.allocatedBytes).toBe(0);
    // The next ring of that size gets memory that carries nothing of the last one.
    const b = new RingBuffer(4096);
    b.writeUnallocated(0, new Uint8Array([1]));
    const seen = new Uint8Array(200);
    b.enqueueUnallocated(200);
    b.read(seen);
    expect(seen[0]).toBe(1);
    expect(seen.subarray(1).every((v) => v === 0)).toBe(true);
  });
});
