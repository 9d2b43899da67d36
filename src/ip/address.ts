/**
 * IPv4 addresses are carried as unsigned 32-bit numbers inside the stack
 * (cheap to compare, hash and write into headers) and as dotted quads at the
 * edges (CLI, socket API, logs).
 */
export type Ipv4Address = number;

export function parseIpv4(text: string): Ipv4Address {
  const parts = text.split('.');
  if (parts.length !== 4) throw new TypeError(`not an IPv4 address: ${JSON.stringify(text)}`);
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) throw new TypeError(`not an IPv4 address: ${JSON.stringify(text)}`);
    const octet = Number(part);
    if (octet > 255) throw new TypeError(`not an IPv4 address: ${JSON.stringify(text)}`);
    value = value * 256 + octet;
  }
  return value >>> 0;
}

export function isIpv4(text: string): boolean {
  try {
    parseIpv4(text);
    return true;
  } catch {
    return false;
  }
}

export function formatIpv4(addr: Ipv4Address): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Parses "10.0.0.1/24" into the address and its prefix length. */
export function parseCidr(text: string): { address: Ipv4Address; prefix: number } {
  const [addr, prefixText] = text.split('/');
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32 || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    throw new TypeError(`not an IPv4 prefix: ${JSON.stringify(text)}`);
  }
  return { address: parseIpv4(addr ?? ''), prefix };
}

export function sameSubnet(a: Ipv4Address, b: Ipv4Address, prefix: number): boolean {
  if (prefix === 0) return true;
  const mask = prefix === 32 ? 0xffffffff : ~((1 << (32 - prefix)) - 1) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}
