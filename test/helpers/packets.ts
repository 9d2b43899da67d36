import { execFileSync } from 'node:child_process';
import { parseIpv4 } from '../../src/ip/address.ts';
import { internetChecksum } from '../../src/ip/checksum.ts';
import { writeIpv4Header } from '../../src/ip/ipv4-header.ts';

/** The stack under test and its peer, as the IP-layer tests address them. */
export const US = parseIpv4('10.0.0.2');
export const PEER = parseIpv4('10.0.0.1');

/** An IPv4 packet (20-byte header, right checksum) around `payload`. */
export function ipPacket(protocol: number, payload: Uint8Array, src = PEER, dst = US, id = 0): Uint8Array {
  const buf = new Uint8Array(20 + payload.length);
  writeIpv4Header(buf, { src, dst, protocol, totalLength: buf.length, id });
  buf.set(payload, 20);
  return buf;
}

/** An ICMP message: type, code, checksum over the whole message, then `body` (rest of header + data). */
export function icmpMessage(type: number, code: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(4 + body.length);
  m[0] = type;
  m[1] = code;
  m.set(body, 4);
  const sum = internetChecksum(m);
  m[2] = sum >>> 8;
  m[3] = sum & 0xff;
  return m;
}

/** Whether tshark is installed (the tests that read captures back need it). */
export function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
