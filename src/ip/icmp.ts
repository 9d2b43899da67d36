/**
 * ICMP (RFC 792) as far as a host needs it: answer echo requests, and send
 * destination-unreachable (protocol) for protocols we do not speak.
 */
import type { Ipv4Address } from './address.ts';
import { internetChecksum } from './checksum.ts';
import type { Ipv4View } from './ipv4.ts';
import { IPV4_HEADER_LENGTH, IP_PROTOCOL_ICMP, writeIpv4Header } from './ipv4-header.ts';

export const ICMP_HEADER_LENGTH = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;

/** Destination-unreachable codes (RFC 792, RFC 1122 §3.2.2.1). */
export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
export const ICMP_UNREACH_FRAG_NEEDED = 4;

/**
 * How much of an offending datagram an ICMP error quotes. RFC 1122 §3.2.2
 * asks for the IP header plus at least 8 bytes of payload; we quote as much
 * as fits in a 576-byte datagram (RFC 1812 §4.3.2.3), as Linux does, so a
 * capture of the error shows the whole start of what was refused.
 */
export const ICMP_ERROR_MAX_DATAGRAM = 576;

export type IcmpDropReason = 'short' | 'checksum';

/** Validates an ICMP message (the IPv4 payload): length and checksum over all of it. */
export function checkIcmp(message: Uint8Array): IcmpDropReason | null {
  if (message.length < ICMP_HEADER_LENGTH) return 'short';
  if (internetChecksum(message) !== 0) return 'checksum';
  return null;
}

/** True for the message types RFC 1122 §3.2.2 calls error messages. */
export function isIcmpError(type: number): boolean {
  return (
    type === ICMP_DEST_UNREACHABLE ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAMETER_PROBLEM
  );
}

/**
 * A source we may send ICMP to: not 0.0.0.0/8 ("this network"), not the
 * limited broadcast, not multicast or class E (224.0.0.0/3 covers both).
 */
export function isUnicastAddress(addr: Ipv4Address): boolean {
  const first = addr >>> 24;
  return first !== 0 && first < 224;
}

/**
 * RFC 1122 §3.2.2: an ICMP error must not answer an ICMP error, a datagram
 * sent to or from a broadcast/multicast address, or a non-initial fragment.
 * We cannot tell a subnet-directed broadcast without a prefix, but such a
 * datagram never has our address as destination, so it never gets here.
 */
export function mayAnswerWithIcmpError(original: Ipv4View): boolean {
  if (!isUnicastAddress(original.src) || !isUnicastAddress(original.dst)) return false;
  if (original.fragmentOffset !== 0) return false;
  if (original.protocol === IP_PROTOCOL_ICMP) {
    const payload = original.payload;
    // An unreadable ICMP type is treated as an error message: the safe side.
    if (payload.length < 1 || isIcmpError(payload[0]!)) return false;
  }
  return true;
}

/**
 * The echo reply to `request` as a whole IPv4 packet (RFC 792 "Echo or Echo
 * Reply Message"): addresses swapped, type 0, identifier, sequence number
 * and data unchanged, fresh checksums. `request` must be a checked ICMP echo
 * request; its IP options are not copied back (RFC 1122 §3.2.2.6 only says
 * SHOULD for record-route/timestamp). ID is 0 with DF set: RFC 6864 §4.1
 * gives the ID no meaning in an atomic datagram.
 */
export function buildEchoReply(request: Ipv4View, src: Ipv4Address): Uint8Array {
  const message = request.payload;
  const totalLength = IPV4_HEADER_LENGTH + message.length;
  const out = new Uint8Array(totalLength);
  writeIpv4Header(out, { src, dst: request.src, protocol: IP_PROTOCOL_ICMP, totalLength });
  const icmp = out.subarray(IPV4_HEADER_LENGTH);
  icmp.set(message);
  icmp[0] = ICMP_ECHO_REPLY;
  icmp[1] = 0;
  writeIcmpChecksum(icmp);
  return out;
}

/**
 * A destination-unreachable error about `original` as a whole IPv4 packet,
 * sent from `src`. The caller decides whether an error may be sent at all
 * (`mayAnswerWithIcmpError`). For code 4 (fragmentation needed) `nextHopMtu`
 * fills the RFC 1191 field.
 */
export function buildDestinationUnreachable(
  original: Ipv4View,
  src: Ipv4Address,
  code: number,
  nextHopMtu = 0,
): Uint8Array {
  const quoteLength = Math.min(
    original.totalLength,
    ICMP_ERROR_MAX_DATAGRAM - IPV4_HEADER_LENGTH - ICMP_HEADER_LENGTH,
  );
  const totalLength = IPV4_HEADER_LENGTH + ICMP_HEADER_LENGTH + quoteLength;
  const out = new Uint8Array(totalLength);
  writeIpv4Header(out, { src, dst: original.src, protocol: IP_PROTOCOL_ICMP, totalLength });
  const icmp = out.subarray(IPV4_HEADER_LENGTH);
  icmp[0] = ICMP_DEST_UNREACHABLE;
  icmp[1] = code;
  icmp[6] = (nextHopMtu >>> 8) & 0xff;
  icmp[7] = nextHopMtu & 0xff;
  icmp.set(original.buffer.subarray(0, quoteLength), ICMP_HEADER_LENGTH);
  writeIcmpChecksum(icmp);
  return out;
}

function writeIcmpChecksum(icmp: Uint8Array): void {
  icmp[2] = 0;
  icmp[3] = 0;
  const sum = internetChecksum(icmp);
  icmp[2] = sum >>> 8;
  icmp[3] = sum & 0xff;
}
