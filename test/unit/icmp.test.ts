import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ip/address.ts';
import { internetChecksum } from '../../src/ip/checksum.ts';
import {
  ICMP_ERROR_MAX_DATAGRAM,
  ICMP_UNREACH_PROTOCOL,
  buildDestinationUnreachable,
  buildEchoReply,
  checkIcmp,
  mayAnswerWithIcmpError,
} from '../../src/ip/icmp.ts';
import { writeIpv4Header } from '../../src/ip/ipv4-header.ts';
import { Ipv4View, checkIpv4 } from '../../src/ip/ipv4.ts';
import { PcapWriter } from '../../src/pcap/pcap-writer.ts';
import { PEER, US, hasTshark, icmpMessage, ipPacket } from '../helpers/packets.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/), (b) => parseInt(b, 16));

// What Linux's `ping -c1 10.0.0.2` sends: 56 data bytes, a 16-byte timeval then 0x10..0x37.
const echoRequest = hex(`
45 00 00 54 ab cd 40 00 40 01 7a d9 0a 00 00 01
0a 00 00 02 08 00 6f fb 1c 2f 00 01 a1 b2 c3 d4
00 00 00 00 3c 7a 0b 00 00 00 00 00 10 11 12 13
14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23
24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33
34 35 36 37`);

// Written out by hand: addresses swapped, ID 0 + DF, TTL 64, type 0, same id/seq/data.
// The ICMP checksum is the request's plus 0x0800 (RFC 1624: only the type changed).
const expectedReply = hex(`
45 00 00 54 00 00 40 00 40 01 26 a7 0a 00 00 02
0a 00 00 01 00 00 77 fb 1c 2f 00 01 a1 b2 c3 d4
00 00 00 00 3c 7a 0b 00 00 00 00 00 10 11 12 13
14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23
24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33
34 35 36 37`);

describe('checkIcmp', () => {
  it('accepts the echo request and rejects short or corrupted messages', () => {
    const message = echoRequest.subarray(20);
    expect(checkIcmp(message)).toBeNull();
    expect(checkIcmp(message.subarray(0, 7))).toBe('short');
    const bad = message.slice();
    bad[40]! ^= 1;
    expect(checkIcmp(bad)).toBe('checksum');
    // The checksum covers the data too, not just the header.
    expect(checkIcmp(message.subarray(0, 50))).toBe('checksum');
  });
});

describe('buildEchoReply', () => {
  it('is byte-exact with the hand-written reply', () => {
    expect(checkIpv4(echoRequest)).toBeNull();
    const reply = buildEchoReply(new Ipv4View(echoRequest), US);
    expect(Buffer.from(reply).toString('hex')).toBe(Buffer.from(expectedReply).toString('hex'));
    expect(checkIpv4(reply)).toBeNull();
    expect(checkIcmp(reply.subarray(20))).toBeNull();
  });

  it('handles odd-length data and leaves the request untouched', () => {
    const req = ipPacket(1, icmpMessage(8, 0, new Uint8Array([0, 1, 0, 2, 0xaa, 0xbb, 0xcc])));
    const before = req.slice();
    const reply = buildEchoReply(new Ipv4View(req), US);
    expect(req).toEqual(before);
    expect(reply.length).toBe(req.length);
    expect(reply[20]).toBe(0);
    expect(reply.subarray(24)).toEqual(req.subarray(24));
    expect(checkIcmp(reply.subarray(20))).toBeNull();
    expect(checkIpv4(reply)).toBeNull();
  });

  it('drops the request IP options from the reply', () => {
    const message = echoRequest.subarray(20);
    const req = new Uint8Array(24 + message.length);
    writeIpv4Header(req, { src: PEER, dst: US, protocol: 1, totalLength: req.length });
    req[0] = 0x46;
    req.set([1, 1, 1, 0], 20);
    req[10] = 0;
    req[11] = 0;
    const sum = internetChecksum(req.subarray(0, 24));
    req[10] = sum >>> 8;
    req[11] = sum & 0xff;
    req.set(message, 24);
    expect(checkIpv4(req)).toBeNull();
    expect(buildEchoReply(new Ipv4View(req), US)).toEqual(expectedReply);
  });
});

describe('buildDestinationUnreachable', () => {
  it('quotes the whole offending datagram when it fits in 576 bytes', () => {
    const udp = ipPacket(17, new Uint8Array([0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef]));
    const err = buildDestinationUnreachable(new Ipv4View(udp), US, ICMP_UNREACH_PROTOCOL);
    expect(checkIpv4(err)).toBeNull();
    const view = new Ipv4View(err);
    expect(view.src).toBe(US);
    expect(view.dst).toBe(PEER);
    expect(view.protocol).toBe(1);
    expect(view.dontFragment).toBe(true);
    expect(Array.from(err.subarray(20, 28))).toEqual([3, 2, err[22], err[23], 0, 0, 0, 0]);
    expect(checkIcmp(err.subarray(20))).toBeNull();
    expect(err.subarray(28)).toEqual(udp);
    expect(err.length).toBe(20 + 8 + udp.length);
  });

  it('cuts a large datagram so the error is exactly 576 bytes (RFC 1812 §4.3.2.3)', () => {
    const big = ipPacket(99, new Uint8Array(1400).map((_, i) => i & 0xff));
    const err = buildDestinationUnreachable(new Ipv4View(big), US, ICMP_UNREACH_PROTOCOL);
    expect(err.length).toBe(ICMP_ERROR_MAX_DATAGRAM);
    expect(checkIpv4(err)).toBeNull();
    expect(checkIcmp(err.subarray(20))).toBeNull();
    expect(err.subarray(28)).toEqual(big.subarray(0, 576 - 28));
  });

  it('fills the next-hop MTU for fragmentation-needed', () => {
    const tcp = ipPacket(6, new Uint8Array(20));
    const err = buildDestinationUnreachable(new Ipv4View(tcp), US, 4, 1280);
    expect(Array.from(err.subarray(24, 28))).toEqual([0, 0, 0x05, 0x00]);
    expect(checkIcmp(err.subarray(20))).toBeNull();
  });
});

describe('mayAnswerWithIcmpError (RFC 1122 §3.2.2)', () => {
  const v = (p: Uint8Array): Ipv4View => new Ipv4View(p);
  it('answers an ordinary unicast datagram and an ICMP query', () => {
    expect(mayAnswerWithIcmpError(v(ipPacket(17, new Uint8Array(8))))).toBe(true);
    expect(mayAnswerWithIcmpError(v(echoRequest))).toBe(true);
  });
  it('never answers an ICMP error with an ICMP error', () => {
    for (const type of [3, 4, 5, 11, 12]) {
      expect(mayAnswerWithIcmpError(v(ipPacket(1, icmpMessage(type, 0, new Uint8Array(4)))))).toBe(false);
    }
  });
  it('never answers broadcast, multicast or 0.0.0.0 sources and destinations', () => {
    for (const addr of ['255.255.255.255', '224.0.0.1', '239.1.2.3', '0.0.0.0', '240.0.0.1']) {
      expect(mayAnswerWithIcmpError(v(ipPacket(17, new Uint8Array(8), parseIpv4(addr), US)))).toBe(false);
      expect(mayAnswerWithIcmpError(v(ipPacket(17, new Uint8Array(8), PEER, parseIpv4(addr))))).toBe(false);
    }
  });
});

describe.skipIf(!hasTshark())('tshark reads our echo reply', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tuntcp-icmp-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('as "Echo (ping) reply" with a good checksum, matched to the request', async () => {
    const file = join(dir, 'ping.pcap');
    const writer = PcapWriter.toFile(file);
    writer.write(echoRequest, 1_700_000_000_000);
    writer.write(buildEchoReply(new Ipv4View(echoRequest), US), 1_700_000_000_000.25);
    await writer.close();
    const out = execFileSync(
      'tshark',
      ['-r', file, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|',
        '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type', '-e', 'ip.checksum.status', '-e', 'icmp.checksum.status',
        '-e', 'icmp.resp_to', '-e', '_ws.col.Info'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    const [src, dst, type, ipStatus, icmpStatus, respTo, info] = lines[1]!.split('|');
    expect([src, dst, type]).toEqual(['10.0.0.2', '10.0.0.1', '0']);
    // 1 = "Good" for both checksum status fields.
    expect(ipStatus).toBe('1');
    expect(icmpStatus).toBe('1');
    expect(respTo).toBe('1');
    expect(info).toContain('Echo (ping) reply');
  });
});
