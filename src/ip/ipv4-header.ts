import { internetChecksum } from './checksum.ts';
import { writeU32 } from './bytes.ts';

export const IPV4_HEADER_LENGTH = 20;
export const IP_PROTOCOL_ICMP = 1;
export const IP_PROTOCOL_TCP = 6;
export const IP_PROTOCOL_UDP = 17;
export const DEFAULT_TTL = 64;

export interface Ipv4HeaderFields {
  src: number;
  dst: number;
  protocol: number;
  /** Header plus payload, bytes. */
  totalLength: number;
  ttl?: number;
  id?: number;
  /** DF: we never fragment what we send (RFC 1191 path MTU discovery relies on it). */
  dontFragment?: boolean;
}

/**
 * Writes a 20-byte IPv4 header (no options) at `offset` and fills in its
 * checksum. The payload is the caller's business.
 */
export function writeIpv4Header(buf: Uint8Array, fields: Ipv4HeaderFields, offset = 0): void {
  const o = offset;
  const id = fields.id ?? 0;
  buf[o] = 0x45;
  buf[o + 1] = 0;
  buf[o + 2] = fields.totalLength >>> 8;
  buf[o + 3] = fields.totalLength & 0xff;
  buf[o + 4] = (id >>> 8) & 0xff;
  buf[o + 5] = id & 0xff;
  buf[o + 6] = fields.dontFragment === false ? 0 : 0x40;
  buf[o + 7] = 0;
  buf[o + 8] = fields.ttl ?? DEFAULT_TTL;
  buf[o + 9] = fields.protocol;
  buf[o + 10] = 0;
  buf[o + 11] = 0;
  writeU32(buf, o + 12, fields.src);
  writeU32(buf, o + 16, fields.dst);
  const sum = internetChecksum(buf.subarray(o, o + IPV4_HEADER_LENGTH));
  buf[o + 10] = sum >>> 8;
  buf[o + 11] = sum & 0xff;
}
