// Small parts of part A: the default random source, the TS offset, the new config knobs.
import { describe, expect, it } from 'vitest';
import { DEFAULT_TCP_CONFIG, resolveTcpConfig } from '../../src/tcp/config.ts';
import { secureRandom } from '../../src/tcp/ports.ts';
import { createTsOffsetGenerator } from '../../src/tcp/timestamps.ts';

describe('secureRandom (the default for ephemeral ports, RFC 6056)', () => {
  it('is uniform-looking in [0, 1)', () => {
    const xs = Array.from({ length: 2000 }, secureRandom);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(1990);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});

describe('TSval offset (RFC 7323 §7.1)', () => {
  it('is a keyed hash of the address pair: stable for the pair, different across pairs and keys', () => {
    const g = createTsOffsetGenerator(new Uint8Array(16).fill(1));
    expect(g(1, 2)).toBe(createTsOffsetGenerator(new Uint8Array(16).fill(1))(1, 2));
    expect(g(1, 2)).not.toBe(g(1, 3));
    expect(g(1, 2)).not.toBe(createTsOffsetGenerator(new Uint8Array(16).fill(2))(1, 2));
  });
});

describe('TcpConfig: options, cookies, challenge ACKs, FIN-WAIT-2', () => {
  it('defaults as Linux: everything on, cookies when the SYN queue is full, 1000 challenge ACKs/s, 60 s', () => {
    expect(DEFAULT_TCP_CONFIG).toMatchObject({
      windowScaling: 1,
      timestamps: 1,
      sack: 1,
      dsack: 1,
      synCookies: 1,
      challengeAckLimit: 1000,
      finWait2TimeoutMs: 60_000,
    });
  });

  it('refuses values that are not switches', () => {
    expect(() => resolveTcpConfig({ sack: 2 })).toThrow(RangeError);
    expect(() => resolveTcpConfig({ synCookies: 3 })).toThrow(RangeError);
    expect(resolveTcpConfig({ synCookies: 2, timestamps: 0 })).toMatchObject({ synCookies: 2, timestamps: 0 });
  });
});
