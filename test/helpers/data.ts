import { createHash } from 'node:crypto';

/** `size` pseudo-random bytes (xorshift32 from `seed`): repeatable payloads for byte-exact transfers. */
export function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
