/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of the data taken as big-endian 16-bit words.
 *
 * The sum is accumulated in a plain number, whose 53-bit integer range lets
 * us add tens of thousands of words before folding the carries once at the
 * end (RFC 1071 §2 (B): deferred carries).
 */

/** Adds `data` to a running (unfolded) sum; an odd trailing byte is padded with zero. */
export function sumWords(data: Uint8Array, initial = 0): number {
  const len = data.length;
  if (LITTLE_ENDIAN && len >= FAST_MIN && (data.byteOffset & 1) === 0) return initial + sumWordsNative(data);
  let sum = initial;
  const even = len & ~1;
  for (let i = 0; i < even; i += 2) {
    sum += (data[i]! << 8) | data[i + 1]!;
  }
  if (len !== even) sum += data[len - 1]! << 8;
  return sum;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Below this, the typed-array view costs more than it saves. */
const FAST_MIN = 128;

/**
 * The same sum, read as native (little-endian) 16-bit words through a
 * Uint16Array: the one's complement sum is byte-order independent (RFC 1071
 * §2 (B)), so the folded sum of byte-swapped words is the byte-swapped sum.
 * Returns a value folded to 16 bits, ready to add to a big-endian running sum.
 */
function sumWordsNative(data: Uint8Array): number {
  const len = data.length;
  const even = len & ~1;
  const words = new Uint16Array(data.buffer, data.byteOffset, even >>> 1);
  let sum = 0;
  const n = words.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) sum += words[i]! + words[i + 1]! + words[i + 2]! + words[i + 3]!;
  for (; i < n; i++) sum += words[i]!;
  sum = foldSum(sum);
  sum = ((sum & 0xff) << 8) | (sum >>> 8);
  if (len !== even) sum += data[len - 1]! << 8;
  return sum;
}

/** Folds a running sum to 16 bits (end-around carry). */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for `data` (with the field itself zeroed). */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  return ~foldSum(sumWords(data, initial)) & 0xffff;
}

/**
 * Running sum of the IPv4 pseudo-header that TCP and UDP checksums cover
 * (RFC 9293 §3.1): source, destination, zero, protocol, segment length.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** Checksum of a transport segment (header + payload) with its pseudo-header. */
export function transportChecksum(src: number, dst: number, protocol: number, segment: Uint8Array): number {
  return internetChecksum(segment, pseudoHeaderSum(src, dst, protocol, segment.length));
}
