/**
 * Initial sequence numbers per RFC 6528 (RFC 9293 §3.4.1):
 *
 *   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * M is a clock ticking every 4 microseconds, so that successive incarnations
 * of one 4-tuple get increasing ISNs (old duplicates fall behind); F is a
 * keyed hash, so that an off-path attacker who sees our ISNs for one 4-tuple
 * cannot predict them for another. The clock is derived from the `now`
 * passed in (the core reads no clock), and the secret is per stack instance.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Ipv4Address } from '../ip/address.ts';

export type IsnGenerator = (
  localAddress: Ipv4Address,
  localPort: number,
  remoteAddress: Ipv4Address,
  remotePort: number,
  now: number,
) => number;

/** 4 µs ticks per millisecond. */
const TICKS_PER_MS = 250;
const SECRET_BYTES = 16;

export function createIsnGenerator(secret: Uint8Array = randomBytes(SECRET_BYTES)): IsnGenerator {
  if (secret.length < 8) throw new RangeError('ISN secret must be at least 8 bytes');
  const key = Uint8Array.from(secret);
  const tuple = new Uint8Array(12);
  const dv = new DataView(tuple.buffer);
  return (localAddress, localPort, remoteAddress, remotePort, now) => {
    dv.setUint32(0, localAddress >>> 0);
    dv.setUint16(4, localPort);
    dv.setUint32(6, remoteAddress >>> 0);
    dv.setUint16(10, remotePort);
    // HMAC-SHA-256 stands in for RFC 6528's suggested MD5 over tuple+secret:
    // a PRF keyed by the secret is all F needs to be.
    const f = createHmac('sha256', key).update(tuple).digest().readUInt32BE(0);
    const m = Math.floor(now * TICKS_PER_MS) % 0x1_0000_0000;
    return (m + f) >>> 0;
  };
}
