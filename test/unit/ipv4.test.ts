import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ip/address.ts';
import { internetChecksum } from '../../src/ip/checksum.ts';
import { writeIpv4Header } from '../../src/ip/ipv4-header.ts';
import { IPV4_DROP_REASONS, Ipv4View, checkIpv4, type Ipv4DropReason } from '../../src/ip/ipv4.ts';
import { Stack } from '../../src/stack/stack.ts';

const US = parseIpv4('10.0.0.2');
const PEER = parseIpv4('10.0.0.1');

function packet(payload: Uint8Array, protocol = 6): Uint8Array {
  const buf = new Uint8Array(20 + payload.length);
  writeIpv4Header(buf, { src: PEER, dst: US, protocol, totalLength: buf.length, id: 0x1234 });
  buf.set(payload, 20);
  return buf;
}

/** Applies `edit` to the header and fixes the checksum, so only the edited field is wrong. */
function edited(buf: Uint8Array, edit: (b: Uint8Array) => void): Uint8Array {
  const b = buf.slice();
  edit(b);
  const ihl = Math.min((b[0]! & 0x0f) * 4, b.length);
  b[10] = 0;
  b[11] = 0;
  const sum = internetChecksum(b.subarray(0, Math.max(ihl, 20)));
  b[10] = sum >>> 8;
  b[11] = sum & 0xff;
  return b;
}

const good = packet(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));

const malformed: [Ipv4DropReason, string, Uint8Array][] = [
  ['short', 'empty buffer', new Uint8Array(0)],
  ['short', '19 bytes', good.subarray(0, 19)],
  ['version', 'version 5', edited(good, (b) => (b[0] = 0x55))],
  ['version', 'version 0', edited(good, (b) => (b[0] = 0x05))],
  ['header-length', 'IHL 4', edited(good, (b) => (b[0] = 0x44))],
  ['header-length', 'IHL 0', edited(good, (b) => (b[0] = 0x40))],
  ['header-length', 'IHL 15 over a 28-byte buffer', edited(good, (b) => (b[0] = 0x4f))],
  ['total-length', 'total length > buffer', edited(good, (b) => (b[3] = 29))],
  ['total-length', 'total length 65535', edited(good, (b) => ((b[2] = 0xff), (b[3] = 0xff)))],
  ['total-length', 'total length < header', edited(good, (b) => (b[3] = 19))],
  ['checksum', 'one bit flipped in the source address', (() => { const b = good.slice(); b[13]! ^= 0x10; return b; })()],
  ['checksum', 'checksum field zeroed', (() => { const b = good.slice(); b[10] = 0; b[11] = 0; return b; })()],
  ['ttl', 'TTL 0', edited(good, (b) => (b[8] = 0))],
  ['fragment', 'first fragment (MF)', edited(good, (b) => (b[6] = 0x20))],
  ['fragment', 'middle fragment (MF + offset)', edited(good, (b) => ((b[6] = 0x20), (b[7] = 0x01)))],
  ['fragment', 'last fragment (offset only)', edited(good, (b) => ((b[6] = 0x00), (b[7] = 0xb9)))],
];

describe('checkIpv4', () => {
  it('accepts a valid packet', () => {
    expect(checkIpv4(good)).toBeNull();
  });

  it('ignores bytes past Total Length (link padding)', () => {
    const padded = new Uint8Array(good.length + 10);
    padded.set(good);
    expect(checkIpv4(padded)).toBeNull();
    const view = new Ipv4View(padded);
    expect(view.payload).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(view.packet.length).toBe(good.length);
  });

  it('accepts a header with options (IHL 6)', () => {
    const b = new Uint8Array(24 + 4);
    b.set(good.subarray(0, 20));
    b[0] = 0x46;
    b[3] = 28;
    b.set([1, 1, 1, 0], 20); // NOP NOP NOP EOL
    b.set([9, 9, 9, 9], 24);
    const fixed = edited(b, () => {});
    expect(checkIpv4(fixed)).toBeNull();
    const view = new Ipv4View(fixed);
    expect(view.headerLength).toBe(24);
    expect(view.header.length).toBe(24);
    expect(view.payload).toEqual(new Uint8Array([9, 9, 9, 9]));
  });

  it('accepts TTL 1 (RFC 1122 §3.2.1.7: a host must not discard it)', () => {
    expect(checkIpv4(edited(good, (b) => (b[8] = 1)))).toBeNull();
  });

  it('accepts DF (it is not a fragment)', () => {
    expect(good[6]).toBe(0x40);
    expect(checkIpv4(good)).toBeNull();
  });

  it.each(malformed)('rejects %s: %s', (reason, _name, buf) => {
    expect(checkIpv4(buf)).toBe(reason);
  });

  it('every reason is exercised and listed', () => {
    expect(new Set(malformed.map(([r]) => r))).toEqual(new Set(IPV4_DROP_REASONS));
  });
});

describe('Ipv4View', () => {
  it('reads every field without copying', () => {
    const b = edited(good, (x) => {
      x[1] = 0x10;
      x[8] = 37;
    });
    const view = new Ipv4View(b);
    expect(view.version).toBe(4);
    expect(view.headerLength).toBe(20);
    expect(view.tos).toBe(0x10);
    expect(view.totalLength).toBe(28);
    expect(view.id).toBe(0x1234);
    expect(view.dontFragment).toBe(true);
    expect(view.moreFragments).toBe(false);
    expect(view.fragmentOffset).toBe(0);
    expect(view.ttl).toBe(37);
    expect(view.protocol).toBe(6);
    expect(view.checksum).toBe((b[10]! << 8) | b[11]!);
    expect(view.src).toBe(PEER);
    expect(view.dst).toBe(US);
    // Views share memory with the packet.
    expect(view.payload.buffer).toBe(b.buffer);
    b[20] = 99;
    expect(view.payload[0]).toBe(99);
  });

  it('reads high addresses as unsigned and fragment fields in bytes', () => {
    const b = edited(good, (x) => {
      x.set([255, 255, 255, 254], 12);
      x[6] = 0x21;
      x[7] = 0x02;
    });
    const view = new Ipv4View(b);
    expect(view.src).toBe(0xfffffffe);
    expect(view.moreFragments).toBe(true);
    expect(view.dontFragment).toBe(false);
    expect(view.fragmentOffset).toBe(0x102 * 8);
  });

  it('is reusable through reset', () => {
    const view = new Ipv4View();
    const a = packet(new Uint8Array([1]), 6);
    const b = packet(new Uint8Array([2, 3]), 17);
    expect(view.reset(a).protocol).toBe(6);
    expect(view.reset(b).protocol).toBe(17);
    expect(view.payload).toEqual(new Uint8Array([2, 3]));
  });
});

describe('Stack counts malformed packets by reason', () => {
  it.each(malformed)('counts %s (%s) and sends nothing', (reason, _name, buf) => {
    const sent: Uint8Array[] = [];
    const stack = new Stack({ address: US }, (p) => sent.push(p.slice()));
    stack.input(buf, 0);
    expect(stack.stats.ipPacketsIn).toBe(1);
    expect(stack.stats.ipDropped[reason]).toBe(1);
    const others = Object.entries(stack.stats.ipDropped).filter(([r]) => r !== reason);
    expect(others.every(([, n]) => n === 0)).toBe(true);
    expect(stack.stats.ipDelivered).toBe(0);
    expect(sent).toEqual([]);
  });
});
