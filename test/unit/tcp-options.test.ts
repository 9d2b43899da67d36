import { describe, expect, it } from 'vitest';
import type { TcpOptions } from '../../src/tcp/options.ts';
import { checkOptions, optionsLength, parseOptions, writeOptions } from '../../src/tcp/options.ts';

function roundTrip(opts: TcpOptions): TcpOptions {
  const buf = new Uint8Array(optionsLength(opts));
  expect(writeOptions(buf, 0, opts)).toBe(buf.length);
  expect(buf.length % 4).toBe(0);
  expect(checkOptions(buf, 0, buf.length)).toBe(true);
  return parseOptions(buf, 0, buf.length);
}

describe('TCP options', () => {
  it('round-trips MSS, window scale, SACK-permitted, timestamps and SACK blocks', () => {
    const all: TcpOptions = {
      mss: 1460,
      windowScale: 7,
      sackPermitted: true,
      timestamps: { value: 0xdeadbeef, echo: 42 },
      sackBlocks: [
        { left: 1, right: 2 },
        { left: 0xfffffff0, right: 0x10 },
      ],
    };
    expect(roundTrip(all)).toEqual(all);
    expect(roundTrip({ mss: 536 })).toEqual({ mss: 536 });
    expect(roundTrip({ sackPermitted: true })).toEqual({ sackPermitted: true });
    expect(roundTrip({})).toEqual({});
    // Linux's SYN layout: MSS, SACK-permitted + timestamps, NOP + window scale = 20 bytes.
    expect(optionsLength({ mss: 1460, sackPermitted: true, timestamps: { value: 1, echo: 0 }, windowScale: 7 })).toBe(20);
  });

  it('reads a list as Linux writes it', () => {
    // <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>
    const b = Uint8Array.from([2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);
    expect(checkOptions(b, 0, b.length)).toBe(true);
    expect(parseOptions(b, 0, b.length)).toEqual({ mss: 1460, sackPermitted: true, timestamps: { value: 1, echo: 0 }, windowScale: 7 });
  });

  it('skips unknown options by their length and stops at EOL', () => {
    const b = Uint8Array.from([30, 4, 9, 9, 1, 2, 4, 1, 0, 0, 99, 99]);
    expect(checkOptions(b, 0, b.length)).toBe(true);
    expect(parseOptions(b, 0, b.length)).toEqual({ mss: 256 });
  });

  it.each([
    ['length below 2', [30, 1, 0, 0]],
    ['length 0', [2, 0, 0, 0]],
    ['past the header end', [30, 8, 0, 0]],
    ['kind without a length byte', [1, 1, 1, 2]],
    ['MSS with length 3', [2, 3, 5, 1]],
    ['window scale with length 4', [3, 4, 7, 0]],
    ['SACK-permitted with length 3', [4, 3, 0, 1]],
    ['timestamps with length 8', [8, 8, 0, 0, 0, 0, 0, 0]],
    ['SACK with a partial block', [5, 6, 0, 0, 0, 0, 1, 1]],
  ])('rejects a malformed list: %s', (_name, bytes) => {
    const b = Uint8Array.from(bytes);
    expect(checkOptions(b, 0, b.length)).toBe(false);
  });
});
