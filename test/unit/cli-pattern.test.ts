import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PATTERN_BLOCK_SIZE, patternBlock, patternBytes, patternChunks, patternSha256 } from '../../src/services/pattern.ts';

describe('/bytes/N content: the deterministic pattern', () => {
  it('is fixed: the same bytes on every run and every machine', () => {
    // xorshift32 from seed 0x74756e74, little-endian words: the documented definition.
    let x = 0x74756e74;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      words.push(x);
    }
    const expected = Buffer.alloc(16);
    words.forEach((w, i) => expected.writeUInt32LE(w, i * 4));
    expect(patternBytes(0, 16)).toEqual(expected);
    expect(patternSha256(0)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('has no two equal blocks, so a segment moved by a whole block still changes the hash', () => {
    const seen = new Set<string>();
    for (let b = 0; b < 64; b++) seen.add(createHash('sha256').update(patternBlock(b)).digest('hex'));
    expect(seen.size).toBe(64);
    // Block b is block 0 with every word XORed with b * 0x9e3779b9.
    const b3 = patternBlock(3);
    const mix = Math.imul(3, 0x9e3779b9) >>> 0;
    expect(b3.readUInt32LE(40)).toBe((patternBlock(0).readUInt32LE(40) ^ mix) >>> 0);
  });

  it('any slice agrees with the stream, across block boundaries', () => {
    const whole = Buffer.concat([...patternChunks(3 * PATTERN_BLOCK_SIZE + 17)]);
    expect(whole.length).toBe(3 * PATTERN_BLOCK_SIZE + 17);
    expect(patternBytes(PATTERN_BLOCK_SIZE - 5, 30)).toEqual(whole.subarray(PATTERN_BLOCK_SIZE - 5, PATTERN_BLOCK_SIZE + 25));
    expect(Buffer.concat([...patternChunks(3 * PATTERN_BLOCK_SIZE + 17, 1000)])).toEqual(whole.subarray(1000));
  });

  it('the announced hash is the hash of the bytes served', () => {
    const n = 200_001;
    expect(patternSha256(n)).toBe(createHash('sha256').update(patternBytes(0, n)).digest('hex'));
    // Prefixes hash differently.
    expect(patternSha256(n - 1)).not.toBe(patternSha256(n));
  });
});
