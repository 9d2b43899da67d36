/**
 * TCP sequence number arithmetic (RFC 9293 §3.4): sequence numbers live on a
 * 2^32 circle, so "before" and "after" are only meaningful for numbers less
 * than 2^31 apart. Every comparison of sequence numbers in src/tcp goes
 * through this module; a raw `<` on two sequence numbers is a bug waiting
 * for the wrap (the same rule smoltcp enforces with its `TcpSeqNumber` type).
 *
 * Values are carried as unsigned 32-bit numbers (0 .. 2^32-1).
 */

/** Signed distance a - b in (-2^31, 2^31]: positive when a is after b. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** a + n on the circle (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}

/** lo <= x < hi on the circle (the half-open windows of RFC 9293 §3.4). */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return seqLe(lo, x) && seqLt(x, hi);
}
