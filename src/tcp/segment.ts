/**
 * The TCP segment on the wire (RFC 9293 §3.1), as two layers like smoltcp's
 * `wire::tcp`: `checkTcp` validates the bytes once (length, data offset,
 * option list, checksum), then `TcpView` reads fields straight out of them
 * without copying; `TcpRepr` is a plain description used to build segments
 * (and by tests), and `buildTcpPacket` writes IPv4 header + TCP header +
 * options + payload into one buffer with one checksum pass.
 */
import type { Ipv4Address } from '../ip/address.ts';
import { foldSum, pseudoHeaderSum, internetChecksum } from '../ip/checksum.ts';
import { IPV4_HEADER_LENGTH, IP_PROTOCOL_TCP, writeIpv4Header } from '../ip/ipv4-header.ts';
import { ACK, FIN, PSH, RST, SYN, URG } from './flags.ts';
import type { TcpOptions } from './options.ts';
import { checkOptions, optionsLength, parseOptions, writeOptions } from './options.ts';
import { readU32, writeU16, writeU32 } from '../ip/bytes.ts';

export const TCP_HEADER_LENGTH = 20;
/** Data offset is 4 bits of 32-bit words: at most 60 bytes of header. */
export const TCP_MAX_HEADER_LENGTH = 60;

/** Why `checkTcp` refused a segment; 'checksum' is counted apart from the rest. */
export type TcpDropReason = 'short' | 'data-offset' | 'options' | 'port' | 'checksum';

/**
 * Validates `bytes` (the IP payload) as a TCP segment from `src` to `dst`.
 * Returns null when everything behind it may trust a `TcpView` over them.
 *
 * Port 0 is refused: it is reserved, no real stack sends from or to it, and
 * a reply to it could not be addressed.
 */
export function checkTcp(
  bytes: Uint8Array,
  src: Ipv4Address,
  dst: Ipv4Address,
  checksumTrusted = false,
): TcpDropReason | null {
  if (bytes.length < TCP_HEADER_LENGTH) return 'short';
  const headerLength = (bytes[12]! >>> 4) * 4;
  if (headerLength < TCP_HEADER_LENGTH || headerLength > bytes.length) return 'data-offset';
  if (!checkOptions(bytes, TCP_HEADER_LENGTH, headerLength)) return 'options';
  if (((bytes[0]! << 8) | bytes[1]!) === 0 || ((bytes[2]! << 8) | bytes[3]!) === 0) return 'port';
  // A segment whose checksum field is right sums (with its pseudo-header) to
  // zero. `checksumTrusted`: the kernel verified it, or it is a partial
  // checksum of a locally generated packet (src/link/offload.ts).
  if (!checksumTrusted && internetChecksum(bytes, pseudoHeaderSum(src, dst, IP_PROTOCOL_TCP, bytes.length)) !== 0) return 'checksum';
  return null;
}

/**
 * A read-only view over a TCP segment that `checkTcp` accepted. Reusable
 * (`reset`) so that the input path allocates nothing per segment.
 */
export class TcpView {
  private buf: Uint8Array;
  /**
   * For a super-packet (GRO/TSO, src/link/offload.ts): the size of the
   * segments it stands for, which is what "full-sized segment" means for it.
   * 0 for an ordinary segment.
   */
  segmentSize = 0;

  constructor(buf: Uint8Array = new Uint8Array(0), segmentSize = 0) {
    this.buf = buf;
    this.segmentSize = segmentSize;
  }

  reset(buf: Uint8Array, segmentSize = 0): this {
    this.buf = buf;
    this.segmentSize = segmentSize;
    return this;
  }

  get bytes(): Uint8Array {
    return this.buf;
  }

  get srcPort(): number {
    return (this.buf[0]! << 8) | this.buf[1]!;
  }

  get dstPort(): number {
    return (this.buf[2]! << 8) | this.buf[3]!;
  }

  get seq(): number {
    return readU32(this.buf, 4);
  }

  get ack(): number {
    return readU32(this.buf, 8);
  }

  /** Header length in bytes (data offset * 4). */
  get headerLength(): number {
    return (this.buf[12]! >>> 4) * 4;
  }

  /** The eight control bits (CWR..FIN); the reserved bits are ignored. */
  get flags(): number {
    return this.buf[13]!;
  }

  get fin(): boolean {
    return (this.buf[13]! & FIN) !== 0;
  }

  get syn(): boolean {
    return (this.buf[13]! & SYN) !== 0;
  }

  get rst(): boolean {
    return (this.buf[13]! & RST) !== 0;
  }

  get psh(): boolean {
    return (this.buf[13]! & PSH) !== 0;
  }

  /** The ACK control bit (the acknowledgment number itself is `ack`). */
  get hasAck(): boolean {
    return (this.buf[13]! & ACK) !== 0;
  }

  get urg(): boolean {
    return (this.buf[13]! & URG) !== 0;
  }

  /** The raw window field (not yet scaled). */
  get window(): number {
    return (this.buf[14]! << 8) | this.buf[15]!;
  }

  get checksum(): number {
    return (this.buf[16]! << 8) | this.buf[17]!;
  }

  get urgentPointer(): number {
    return (this.buf[18]! << 8) | this.buf[19]!;
  }

  get payloadLength(): number {
    return this.buf.length - this.headerLength;
  }

  /** A view, not a copy: valid only while the packet is. */
  get payload(): Uint8Array {
    return this.buf.subarray(this.headerLength);
  }

  /** SEG.LEN of RFC 9293 §3.4: payload plus one for SYN and one for FIN. */
  get segLen(): number {
    return this.payloadLength + (this.syn ? 1 : 0) + (this.fin ? 1 : 0);
  }

  /** Allocates; the input path calls it only for segments whose options matter (SYNs). */
  options(): TcpOptions {
    return parseOptions(this.buf, TCP_HEADER_LENGTH, this.headerLength);
  }
}

/** A segment described as plain data, for building packets and for tests. */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  /** Written as given; meaningful only with the ACK flag. */
  ack: number;
  flags: number;
  /** The raw 16-bit window field (already scaled down by the sender). */
  window: number;
  urgentPointer?: number;
  options?: TcpOptions;
  /** Payload to copy in; ignored when a `fill` callback is passed to buildTcpPacket. */
  payload?: Uint8Array;
}

export interface Ipv4Endpoints {
  src: Ipv4Address;
  dst: Ipv4Address;
  ttl?: number;
}

/**
 * Builds one IPv4 packet carrying `repr`. When `fill` is given it is called
 * with the payload area (`payloadLength` bytes) so that the sender can copy
 * straight from its send ring into the packet: the one copy out of the ring.
 */
export function buildTcpPacket(
  ip: Ipv4Endpoints,
  repr: TcpRepr,
  payloadLength: number = repr.payload?.length ?? 0,
  fill?: (payload: Uint8Array) => void,
  partialChecksum = false,
): Uint8Array {
  const optLen = optionsLength(repr.options);
  const headerLength = TCP_HEADER_LENGTH + optLen;
  const tcpLength = headerLength + payloadLength;
  const total = IPV4_HEADER_LENGTH + tcpLength;
  // Not zero-filled (a 64 KB segment's memset showed in the send profile):
  // every byte below is written. A plain Uint8Array over it, so that
  // slice() still copies (Buffer#slice would not).
  const raw = Buffer.allocUnsafe(total);
  const buf = new Uint8Array(raw.buffer, raw.byteOffset, total);
  writeIpv4Header(buf, {
    src: ip.src,
    dst: ip.dst,
    protocol: IP_PROTOCOL_TCP,
    totalLength: total,
    ...(ip.ttl === undefined ? {} : { ttl: ip.ttl }),
  });
  const t = IPV4_HEADER_LENGTH;
  writeU16(buf, t, repr.srcPort);
  writeU16(buf, t + 2, repr.dstPort);
  writeU32(buf, t + 4, repr.seq);
  writeU32(buf, t + 8, repr.ack);
  buf[t + 12] = (headerLength / 4) << 4;
  buf[t + 13] = repr.flags & 0xff;
  writeU16(buf, t + 14, repr.window);
  writeU16(buf, t + 16, 0); // the checksum, zero while summing
  writeU16(buf, t + 18, repr.urgentPointer ?? 0);
  writeOptions(buf, t + TCP_HEADER_LENGTH, repr.options);
  const payloadArea = buf.subarray(t + headerLength);
  if (fill !== undefined) {
    fill(payloadArea);
  } else {
    const given = repr.payload?.subarray(0, payloadLength);
    if (given !== undefined) payloadArea.set(given);
    payloadArea.fill(0, given?.length ?? 0);
  }
  const pseudo = pseudoHeaderSum(ip.src, ip.dst, IP_PROTOCOL_TCP, tcpLength);
  // A partial checksum (CHECKSUM_PARTIAL, src/link/offload.ts) is the folded
  // pseudo-header sum, uncomplemented: the kernel sums the segment over it.
  writeU16(buf, t + 16, partialChecksum ? foldSum(pseudo) : internetChecksum(buf.subarray(t), pseudo));
  return buf;
}

/** Reads a view's fields into a repr (copies the payload); for tests and traces. */
export function reprFromView(view: TcpView): TcpRepr {
  return {
    srcPort: view.srcPort,
    dstPort: view.dstPort,
    seq: view.seq,
    ack: view.ack,
    flags: view.flags,
    window: view.window,
    urgentPointer: view.urgentPointer,
    options: view.options(),
    payload: view.payload.slice(),
  };
}
