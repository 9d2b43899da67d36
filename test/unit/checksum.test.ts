import { describe, expect, it } from 'vitest';
import { foldSum, internetChecksum, pseudoHeaderSum, sumWords, transportChecksum } from '../../src/ip/checksum.ts';
import { parseIpv4 } from '../../src/ip/address.ts';
import { writeIpv4Header } from '../../src/ip/ipv4-header.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/), (b) => parseInt(b, 16));

describe('internet checksum (RFC 1071)', () => {
  it('matches the numerical example of RFC 1071 §3', () => {
    const data = hex('00 01 f2 03 f4 f5 f6 f7');
    expect(foldSum(sumWords(data))).toBe(0xddf2);
    expect(internetChecksum(data)).toBe(0x220d);
  });

  it('pads an odd trailing byte with zero', () => {
    expect(internetChecksum(hex('00 01 f2 03 f4 f5 f6 f7 ab'))).toBe(internetChecksum(hex('00 01 f2 03 f4 f5 f6 f7 ab 00')));
    expect(internetChecksum(hex('ff'))).toBe(0x00ff);
    expect(internetChecksum(new Uint8Array(0))).toBe(0xffff);
  });

  it('folds carries across many words', () => {
    const data = new Uint8Array(65536).fill(0xff);
    expect(foldSum(sumWords(data))).toBe(0xffff);
    expect(internetChecksum(data)).toBe(0);
  });

  it('verifies a real IPv4 header (checksum b861)', () => {
    const header = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');
    expect(internetChecksum(header)).toBe(0);
    const zeroed = header.slice();
    zeroed[10] = 0;
    zeroed[11] = 0;
    expect(internetChecksum(zeroed)).toBe(0xb861);
  });

  it('writeIpv4Header produces that same header', () => {
    const buf = new Uint8Array(20);
    writeIpv4Header(buf, { src: parseIpv4('192.168.0.1'), dst: parseIpv4('192.168.0.199'), protocol: 17, totalLength: 0x73 });
    expect(buf).toEqual(hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7'));
  });

  // A Linux-style SYN (MSS, SACK-permitted, timestamps, NOP, wscale 7); tshark
  // with tcp.check_checksum:TRUE reports "Checksum: 0x4504 [correct]" for it.
  const syn = hex(`45 00 00 3c 1c 46 40 00 40 06 0a 74 0a 00 00 01 0a 00 00 02
    a8 ca 00 50 12 34 56 78 00 00 00 00 a0 02 fa f0 45 04 00 00
    02 04 05 b4 04 02 08 0a 00 01 e2 40 00 00 00 00 01 03 03 07`);
  const src = parseIpv4('10.0.0.1');
  const dst = parseIpv4('10.0.0.2');

  it('computes the TCP checksum of a real SYN with its pseudo-header', () => {
    const segment = syn.slice(20);
    segment[16] = 0;
    segment[17] = 0;
    expect(transportChecksum(src, dst, 6, segment)).toBe(0x4504);
    // Over the segment with its checksum in place the result is 0: that is how receivers verify.
    expect(transportChecksum(src, dst, 6, syn.subarray(20))).toBe(0);
    expect(internetChecksum(syn.subarray(0, 20))).toBe(0);
  });

  it('the pseudo-header matters: a wrong address or protocol fails verification', () => {
    expect(transportChecksum(parseIpv4('10.0.0.3'), dst, 6, syn.subarray(20))).not.toBe(0);
    expect(transportChecksum(src, dst, 17, syn.subarray(20))).not.toBe(0);
    expect(pseudoHeaderSum(src, dst, 6, 40)).toBe(0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 40);
  });
});

describe('the word-at-a-time checksum path', () => {
  /** RFC 1071 straight from its definition, byte pairs and end-around carry. */
  function reference(data: Uint8Array, initial: number): number {
    let sum = initial;
    for (let i = 0; i < data.length; i += 2) sum += (data[i]! << 8) | (data[i + 1] ?? 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
    return ~sum & 0xffff;
  }

  it('agrees with the definition for random lengths, offsets and starting sums', () => {
    let x = 12345;
    const rand = (n: number): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x % n;
    };
    const backing = new Uint8Array(4096);
    for (let round = 0; round < 3000; round++) {
      for (let i = 0; i < backing.length; i++) backing[i] = round % 7 === 0 ? 0xff : rand(256);
      const offset = rand(16);
      const length = rand(3000);
      const data = backing.subarray(offset, offset + length);
      const initial = rand(4) === 0 ? 0 : rand(0x3ffff);
      expect(internetChecksum(data, initial)).toBe(reference(data, initial));
    }
  });
});
