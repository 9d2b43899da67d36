/**
 * What the kernel does with a packet that carries an offload word (see
 * offload.ts), done in JavaScript for the two places that must see the wire
 * itself: the capture (a pcap shows the segments the wire carried, with
 * correct checksums, not 64 KB aggregates with partial ones) and the
 * impairment layer (it drops and reorders segments). Neither is on the fast
 * path, so clarity wins over allocation here.
 */
import { foldSum, internetChecksum, pseudoHeaderSum, sumWords, transportChecksum } from '../ip/checksum.ts';
import { readU16, readU32, writeU16, writeU32 } from '../ip/bytes.ts';
import { IP_PROTOCOL_TCP } from '../ip/ipv4-header.ts';
import { OFFLOAD_CSUM_PARTIAL, offloadSegmentSize } from './offload.ts';

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * The packets the wire carries for `packet` sent or received with
 * `offload`: the packet itself when the word asks nothing; a copy with its
 * TCP checksum finished for a partial checksum; for a super-packet, the
 * segments a TSO engine cuts (RFC-wise: the segments the sender's TCP would
 * have sent one by one), each with its own IP length, ID, checksums and
 * sequence number, FIN and PSH only on the last, CWR only on the first (as
 * Linux's tcp_gso_segment). A packet that is not IPv4/TCP, or is malformed,
 * is returned unchanged: the capture then shows what really crossed.
 */
export function wirePackets(packet: Uint8Array, offload: number): Uint8Array[] {
  const segment = offloadSegmentSize(offload);
  if (segment === 0 && (offload & OFFLOAD_CSUM_PARTIAL) === 0) return [packet];
  const layout = tcpLayout(packet);
  if (layout === null) return [packet];
  const { ipHeader, tcpHeader, total } = layout;
  const headers = ipHeader + tcpHeader;
  const payloadLength = total - headers;
  if (segment === 0 || payloadLength <= segment) {
    const copy = packet.slice(0, total);
    finishTcpChecksum(copy, ipHeader);
    return [copy];
  }
  const out: Uint8Array[] = [];
  const id = readU16(packet, 4);
  const seq = readU32(packet, ipHeader + 4);
  const flags = packet[ipHeader + 13]!;
  for (let at = 0, k = 0; at < payloadLength; at += segment, k++) {
    const len = Math.min(segment, payloadLength - at);
    const last = at + len === payloadLength;
    const piece = new Uint8Array(headers + len);
    piece.set(packet.subarray(0, headers), 0);
    piece.set(packet.subarray(headers + at, headers + at + len), headers);
    writeU16(piece, 2, headers + len);
    writeU16(piece, 4, (id + k) & 0xffff);
    writeU16(piece, 10, 0);
    writeU16(piece, 10, internetChecksum(piece.subarray(0, ipHeader)));
    writeU32(piece, ipHeader + 4, (seq + at) >>> 0);
    let f = flags;
    if (!last) f &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) f &= ~TCP_CWR;
    piece[ipHeader + 13] = f;
    finishTcpChecksum(piece, ipHeader);
    out.push(piece);
  }
  return out;
}

/** Computes the TCP checksum of a whole IPv4/TCP packet in place. */
function finishTcpChecksum(packet: Uint8Array, ipHeader: number): void {
  writeU16(packet, ipHeader + 16, 0);
  writeU16(packet, ipHeader + 16, transportChecksum(readU32(packet, 12), readU32(packet, 16), IP_PROTOCOL_TCP, packet.subarray(ipHeader)));
}

/**
 * The value a partial TCP checksum field holds (CHECKSUM_PARTIAL): the folded
 * pseudo-header sum, not complemented. Whoever finishes the checksum sums
 * the segment with this in the field, then complements.
 */
export function partialTcpChecksum(src: number, dst: number, tcpLength: number): number {
  return foldSum(pseudoHeaderSum(src, dst, IP_PROTOCOL_TCP, tcpLength));
}

/** True if `packet`'s TCP checksum, finished or partial as `offload` says, is right (tests, debugging). */
export function tcpChecksumConsistent(packet: Uint8Array, offload: number): boolean {
  const layout = tcpLayout(packet);
  if (layout === null) return false;
  const tcp = packet.subarray(layout.ipHeader, layout.total);
  const src = readU32(packet, 12);
  const dst = readU32(packet, 16);
  if ((offload & OFFLOAD_CSUM_PARTIAL) !== 0) return readU16(tcp, 16) === partialTcpChecksum(src, dst, tcp.length);
  return foldSum(sumWords(tcp, pseudoHeaderSum(src, dst, IP_PROTOCOL_TCP, tcp.length))) === 0xffff;
}

interface TcpLayout {
  ipHeader: number;
  tcpHeader: number;
  total: number;
}

function tcpLayout(packet: Uint8Array): TcpLayout | null {
  if (packet.length < 40 || packet[0]! >>> 4 !== 4 || packet[9] !== IP_PROTOCOL_TCP) return null;
  const ipHeader = (packet[0]! & 0x0f) * 4;
  const total = readU16(packet, 2);
  if (ipHeader < 20 || total > packet.length || ipHeader + 20 > total) return null;
  const tcpHeader = (packet[ipHeader + 12]! >>> 4) * 4;
  if (tcpHeader < 20 || ipHeader + tcpHeader > total) return null;
  return { ipHeader, tcpHeader, total };
}
