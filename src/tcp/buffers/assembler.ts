// Out-of-order segment bookkeeping, after smoltcp's `storage/assembler.rs`.
//
// The assembler holds no payload. Out-of-order bytes are written directly into
// the receive ring's unallocated space (see RingBuffer.writeUnallocated); the
// assembler only remembers which ranges of that space are filled, relative to a
// moving front (offset 0 = RCV.NXT, the first byte not yet contiguous).
//
// How the receiver uses the pair, for a segment whose data starts at
// o = seq - RCV.NXT (o may be 0; the segment already trimmed to the window):
//
//   const n = rx.writeUnallocated(o, payload);   // clipped to the free space
//   if (!asm.add(o, n)) { /* too fragmented: drop the segment, ACK RCV.NXT */ }
//   const k = asm.removeFront();
//   if (k > 0) { rx.enqueueUnallocated(k); rcvNxt = seq.add(rcvNxt, k); }
//
// Fast path: an in-order segment (o === 0) while the assembler is empty can go
// through rx.write(payload) and RCV.NXT += n directly. With out-of-order data
// held, use the general path (or rx.write(), asm.shift(n), then removeFront() as
// above: the in-order bytes may have closed the gap to the next range).
//
// A rejected add() leaves bytes written into unallocated space but unrecorded;
// that is harmless, since only recorded ranges are ever enqueued, and a later
// write of the same sequence space overwrites them.

/** Half-open byte range [start, end), offsets relative to the front. */
export interface Range {
  start: number;
  end: number;
}

interface StampedRange {
  start: number;
  end: number;
  /** Larger = more recently touched by add(); orders SACK blocks (RFC 2018 §4). */
  stamp: number;
}

export class Assembler {
  readonly maxRanges: number;
  /** Sorted by start, pairwise disjoint and non-adjacent (adjacent ranges are merged). */
  private list: StampedRange[] = [];
  private clock = 0;
  private total = 0;

  constructor(maxRanges = 32) {
    if (!Number.isInteger(maxRanges) || maxRanges < 1) {
      throw new RangeError(`maxRanges must be a positive integer, got ${maxRanges}`);
    }
    this.maxRanges = maxRanges;
  }

  /**
   * Records [offset, offset + length) as filled, merging with overlapping or
   * adjacent ranges. Returns false and records nothing if the result would need
   * more than maxRanges separate ranges. A zero length is a successful no-op.
   */
  add(offset: number, length: number): boolean {
    if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(length) || length < 0) {
      throw new RangeError(`assembler add needs non-negative integers, got offset ${offset} length ${length}`);
    }
    if (length === 0) return true;
    const end = offset + length;
    const list = this.list;

    // [lo, hi) = the existing ranges that touch [offset, end), adjacency included.
    let lo = 0;
    while (lo < list.length && (list[lo] as StampedRange).end < offset) lo++;
    let hi = lo;
    while (hi < list.length && (list[hi] as StampedRange).start <= end) hi++;

    if (list.length - (hi - lo) + 1 > this.maxRanges) return false;

    let start = offset;
    let newEnd = end;
    let absorbed = 0;
    if (hi > lo) {
      start = Math.min(start, (list[lo] as StampedRange).start);
      newEnd = Math.max(newEnd, (list[hi - 1] as StampedRange).end);
      for (let i = lo; i < hi; i++) {
        const r = list[i] as StampedRange;
        absorbed += r.end - r.start;
      }
    }
    list.splice(lo, hi - lo, { start, end: newEnd, stamp: ++this.clock });
    this.total += newEnd - start - absorbed;
    return true;
  }

  /**
   * If data at offset 0 is present, removes the contiguous front range, shifts
   * the remaining ranges down by its length and returns that length; else 0.
   */
  removeFront(): number {
    const first = this.list[0];
    if (first === undefined || first.start !== 0) return 0;
    const n = first.end;
    this.list.shift();
    this.total -= n;
    for (const r of this.list) {
      r.start -= n;
      r.end -= n;
    }
    return n;
  }

  /**
   * Moves the front forward by n bytes that were consumed without going through
   * add() (the in-order fast path); ranges falling below 0 are clipped or dropped.
   */
  shift(n: number): void {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`assembler shift needs a non-negative integer, got ${n}`);
    }
    if (n === 0) return;
    const kept: StampedRange[] = [];
    let total = 0;
    for (const r of this.list) {
      if (r.end <= n) continue;
      r.start = Math.max(0, r.start - n);
      r.end -= n;
      total += r.end - r.start;
      kept.push(r);
    }
    this.list = kept;
    this.total = total;
  }

  isEmpty(): boolean {
    return this.list.length === 0;
  }

  /** Bytes held in all ranges (out-of-order bytes waiting for the gap to fill). */
  get totalBytes(): number {
    return this.total;
  }

  get rangeCount(): number {
    return this.list.length;
  }

  /** Ranges in ascending order (copies). */
  ranges(): Range[] {
    return this.list.map((r) => ({ start: r.start, end: r.end }));
  }

  /**
   * Up to `max` ranges for SACK blocks: per RFC 2018 §4 the first block holds
   * the most recently received segment, the rest follow by recency so that each
   * range is reported in several ACKs in case some are lost.
   */
  sackRanges(max: number): Range[] {
    if (max <= 0) return [];
    return [...this.list]
      .sort((a, b) => b.stamp - a.stamp)
      .slice(0, max)
      .map((r) => ({ start: r.start, end: r.end }));
  }

  clear(): void {
    this.list = [];
    this.total = 0;
  }
}
