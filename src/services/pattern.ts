import { createHash } from 'node:crypto';

/**
 * The content of `/bytes/N` and `/slow`: a deterministic pseudo-random byte
 * stream, so that the SHA-256 of a download says whether every byte arrived
 * in the right place (a stream of 'x' would hash the same with a segment
 * dropped and another duplicated).
 *
 * The stream is made of 64 KiB blocks. Block 0 is 16384 little-endian 32-bit
 * words of xorshift32 (seed 0x74756e74, "tunt"); block b is block 0 with every
 * word XORed with (b * 0x9e3779b9) mod 2^32, so no two blocks are equal and a
 * segment moved by any multiple of the block size still changes the hash.
 * Byte i of `/bytes/N` is byte i of this stream, for every N.
 *
 * The expected hash of N bytes: `curl http://10.0.0.2/bytes/N?sha256` (the
 * same line `sha256sum` prints for stdin), or `patternSha256(N)` in code.
 */
export const PATTERN_BLOCK_SIZE = 65536;
const WORDS = PATTERN_BLOCK_SIZE / 4;
const SEED = 0x74756e74;
const BLOCK_MIX = 0x9e3779b9;

const base: Uint32Array = (() => {
  const words = new Uint32Array(WORDS);
  let x = SEED;
  for (let i = 0; i < WORDS; i++) {
    // xorshift32 (Marsaglia 2003): period 2^32-1, fast, and easy to re-implement elsewhere.
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return words;
})();

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Block `index` of the stream, as a fresh buffer (safe to hand to write()). */
export function patternBlock(index: number): Buffer {
  const mix = Math.imul(index, BLOCK_MIX) >>> 0;
  const out = Buffer.allocUnsafe(PATTERN_BLOCK_SIZE);
  if (littleEndian) {
    const words = new Uint32Array(out.buffer, out.byteOffset, WORDS);
    for (let i = 0; i < WORDS; i++) words[i] = (base[i]! ^ mix) >>> 0;
  } else {
    for (let i = 0; i < WORDS; i++) out.writeUInt32LE((base[i]! ^ mix) >>> 0, i * 4);
  }
  return out;
}

/** Bytes [offset, offset + length) of the stream. */
export function patternBytes(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const at = offset + done;
    const index = Math.floor(at / PATTERN_BLOCK_SIZE);
    const within = at - index * PATTERN_BLOCK_SIZE;
    const n = Math.min(PATTERN_BLOCK_SIZE - within, length - done);
    patternBlock(index).copy(out, done, within, within + n);
    done += n;
  }
  return out;
}

/**
 * Yields the first `size` bytes of the stream in pieces of at most one block,
 * aligned to blocks so that each piece is generated once.
 */
export function* patternChunks(size: number, from = 0): Generator<Buffer> {
  let at = from;
  while (at < size) {
    const index = Math.floor(at / PATTERN_BLOCK_SIZE);
    const within = at - index * PATTERN_BLOCK_SIZE;
    const n = Math.min(PATTERN_BLOCK_SIZE - within, size - at);
    const block = patternBlock(index);
    yield within === 0 && n === PATTERN_BLOCK_SIZE ? block : block.subarray(within, within + n);
    at += n;
  }
}

const hashCache = new Map<number, string>();

/** SHA-256 (hex) of the first `size` bytes of the stream. */
export function patternSha256(size: number): string {
  const cached = hashCache.get(size);
  if (cached !== undefined) return cached;
  const hash = createHash('sha256');
  for (const chunk of patternChunks(size)) hash.update(chunk);
  const hex = hash.digest('hex');
  // A handful of sizes is what labs and tests ask for; keep the map small.
  if (hashCache.size > 64) hashCache.clear();
  hashCache.set(size, hex);
  return hex;
}
