/**
 * IPv4 (RFC 791) as two layers, as smoltcp's `wire::ipv4` does: `checkIpv4`
 * validates a packet once, then `Ipv4View` reads fields straight out of the
 * bytes without copying. Everything behind the check trusts the view.
 */
import type { Ipv4Address } from './address.ts';
import { internetChecksum } from './checksum.ts';
import { readU32 } from './bytes.ts';

/** Why `checkIpv4` refused a packet; each one is a stats counter. */
export type Ipv4DropReason =
  | 'short'
  | 'version'
  | 'header-length'
  | 'total-length'
  | 'checksum'
  | 'ttl'
  | 'fragment';

export const IPV4_DROP_REASONS: readonly Ipv4DropReason[] = [
  'short',
  'version',
  'header-length',
  'total-length',
  'checksum',
  'ttl',
  'fragment',
];

const MIN_HEADER = 20;

/**
 * Validates `buf` as one IPv4 packet and returns null when it is acceptable,
 * otherwise the first reason it is not. Bytes past Total Length are ignored
 * (some links pad short frames).
 *
 * Fragments are refused, not reassembled: everything we send carries DF, so
 * the kernel's TCP does path MTU discovery (RFC 1191) and sizes its segments
 * to the TUN MTU instead of fragmenting toward us. A fragment reaching us is
 * therefore a stray or an attack (reassembly buffers are a classic
 * memory-exhaustion target), and dropping it keeps the stack bounded.
 *
 * TTL 0 is refused as malformed: no host may send it (RFC 1122 §3.2.1.7) and
 * a router drops a datagram rather than forward it with TTL 0, so only a
 * crafted packet carries it. (The same section's "MUST NOT discard ... TTL
 * less than 2" protects TTL 1 arriving from the last hop, which we accept.)
 */
export function checkIpv4(buf: Uint8Array): Ipv4DropReason | null {
  if (buf.length < MIN_HEADER) return 'short';
  const b0 = buf[0]!;
  if (b0 >>> 4 !== 4) return 'version';
  const headerLength = (b0 & 0x0f) * 4;
  if (headerLength < MIN_HEADER || headerLength > buf.length) return 'header-length';
  const totalLength = (buf[2]! << 8) | buf[3]!;
  if (totalLength < headerLength || totalLength > buf.length) return 'total-length';
  // A correct header sums to 0xffff, so its checksum over itself is zero.
  if (internetChecksum(buf.subarray(0, headerLength)) !== 0) return 'checksum';
  if (buf[8] === 0) return 'ttl';
  if ((buf[6]! & 0x20) !== 0 || (((buf[6]! & 0x1f) << 8) | buf[7]!) !== 0) return 'fragment';
  return null;
}

/**
 * A read-only view over an IPv4 packet. Reusable: the input path keeps one and
 * `reset`s it for each packet, so reading a header allocates nothing. Getters
 * assume `checkIpv4` accepted the bytes.
 */
export class Ipv4View {
  private buf: Uint8Array;
  /**
   * The offload word the link delivered the packet with (src/link/offload.ts):
   * segment size of a super-packet, checksum already vouched for. 0 for an
   * ordinary packet.
   */
  offload = 0;

  constructor(buf: Uint8Array = new Uint8Array(0), offload = 0) {
    this.buf = buf;
    this.offload = offload;
  }

  reset(buf: Uint8Array, offload = 0): this {
    this.buf = buf;
    this.offload = offload;
    return this;
  }

  /** The underlying bytes, possibly longer than `totalLength`. */
  get buffer(): Uint8Array {
    return this.buf;
  }

  get version(): number {
    return this.buf[0]! >>> 4;
  }

  /** In bytes (IHL * 4). */
  get headerLength(): number {
    return (this.buf[0]! & 0x0f) * 4;
  }

  get tos(): number {
    return this.buf[1]!;
  }

  get totalLength(): number {
    return (this.buf[2]! << 8) | this.buf[3]!;
  }

  get id(): number {
    return (this.buf[4]! << 8) | this.buf[5]!;
  }

  get dontFragment(): boolean {
    return (this.buf[6]! & 0x40) !== 0;
  }

  get moreFragments(): boolean {
    return (this.buf[6]! & 0x20) !== 0;
  }

  /** In bytes (the field counts 8-byte units). */
  get fragmentOffset(): number {
    return (((this.buf[6]! & 0x1f) << 8) | this.buf[7]!) * 8;
  }

  get ttl(): number {
    return this.buf[8]!;
  }

  get protocol(): number {
    return this.buf[9]!;
  }

  get checksum(): number {
    return (this.buf[10]! << 8) | this.buf[11]!;
  }

  get src(): Ipv4Address {
    return readU32(this.buf, 12);
  }

  get dst(): Ipv4Address {
    return readU32(this.buf, 16);
  }

  /** Header including options; a view, not a copy. */
  get header(): Uint8Array {
    return this.buf.subarray(0, this.headerLength);
  }

  /** Bytes after the header up to Total Length; a view, not a copy. */
  get payload(): Uint8Array {
    return this.buf.subarray(this.headerLength, this.totalLength);
  }

  /** The whole packet up to Total Length (trailing padding cut off). */
  get packet(): Uint8Array {
    return this.buf.subarray(0, this.totalLength);
  }
}
