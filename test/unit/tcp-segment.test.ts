import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ip/address.ts';
import { checkIpv4, Ipv4View } from '../../src/ip/ipv4.ts';
import { ACK, FIN, PSH, SYN, formatFlags, parseFlags } from '../../src/tcp/flags.ts';
import { buildTcpPacket, checkTcp, reprFromView, TcpView } from '../../src/tcp/segment.ts';

const src = parseIpv4('10.0.0.2');
const dst = parseIpv4('10.0.0.1');

describe('TCP segment view and builder', () => {
  it('builds an IPv4 packet whose TCP view reads back every field', () => {
    const payload = new TextEncoder().encode('hello');
    const packet = buildTcpPacket(
      { src, dst },
      { srcPort: 40000, dstPort: 80, seq: 0xfffffffe, ack: 77, flags: ACK | PSH, window: 1234, options: { mss: 1460 }, payload },
    );
    expect(checkIpv4(packet)).toBeNull();
    const ip = new Ipv4View(packet);
    expect(ip).toMatchObject({ src, dst, protocol: 6, dontFragment: true, ttl: 64, totalLength: 20 + 24 + 5 });
    expect(checkTcp(ip.payload, src, dst)).toBeNull();
    const v = new TcpView(ip.payload);
    expect(v).toMatchObject({ srcPort: 40000, dstPort: 80, seq: 0xfffffffe, ack: 77, headerLength: 24, window: 1234 });
    expect(v.hasAck && v.psh && !v.syn && !v.fin && !v.rst).toBe(true);
    expect(v.payload).toEqual(payload);
    expect(v.segLen).toBe(5);
    expect(reprFromView(v).options).toEqual({ mss: 1460 });
  });

  it('SYN and FIN count in SEG.LEN', () => {
    const packet = buildTcpPacket({ src, dst }, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: SYN | FIN, window: 0 });
    expect(new TcpView(packet.subarray(20)).segLen).toBe(2);
  });

  it('fills the payload through a callback (zero-copy from the send ring)', () => {
    const packet = buildTcpPacket({ src, dst }, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: ACK, window: 0 }, 3, (p) => p.set([7, 8, 9]));
    expect(checkTcp(packet.subarray(20), src, dst)).toBeNull();
    expect([...new TcpView(packet.subarray(20)).payload]).toEqual([7, 8, 9]);
  });

  it('checkTcp catches every kind of damage', () => {
    const good = buildTcpPacket({ src, dst }, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: ACK, window: 0, payload: Uint8Array.of(1, 2, 3) });
    const tcp = good.subarray(20);
    expect(checkTcp(tcp.subarray(0, 19), src, dst)).toBe('short');
    const bad = tcp.slice();
    bad[12] = 0x40;
    expect(checkTcp(bad, src, dst)).toBe('data-offset');
    bad[12] = 0xf0;
    expect(checkTcp(bad, src, dst)).toBe('data-offset');
    const flipped = tcp.slice();
    flipped[21] = flipped[21]! ^ 1;
    expect(checkTcp(flipped, src, dst)).toBe('checksum');
    // The pseudo-header counts: the same bytes from another address fail.
    expect(checkTcp(tcp, parseIpv4('10.0.0.3'), dst)).toBe('checksum');
    const port0 = buildTcpPacket({ src, dst }, { srcPort: 0, dstPort: 2, seq: 0, ack: 0, flags: ACK, window: 0 });
    expect(checkTcp(port0.subarray(20), src, dst)).toBe('port');
    const badOpts = buildTcpPacket({ src, dst }, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: SYN, window: 0, options: { mss: 1 } });
    badOpts[20 + 21] = 3;
    expect(checkTcp(badOpts.subarray(20), src, dst)).toBe('options');
  });

  it('flag letters parse and format', () => {
    expect(parseFlags('SA')).toBe(SYN | ACK);
    expect(parseFlags('S.')).toBe(SYN | ACK);
    expect(parseFlags('AS')).toBe(SYN | ACK);
    expect(formatFlags(FIN | PSH | ACK)).toBe('FPA');
    expect(formatFlags(0)).toBe('-');
    expect(() => parseFlags('X')).toThrow();
  });
});
