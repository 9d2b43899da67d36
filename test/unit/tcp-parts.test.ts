// The small parts: RTO estimator, NewReno's window, ISN generator, ephemeral ports, config.
import { describe, expect, it } from 'vitest';
import { resolveTcpConfig } from '../../src/tcp/config.ts';
import { initialWindow } from '../../src/tcp/congestion/congestion-control.ts';
import { NewReno } from '../../src/tcp/congestion/newreno.ts';
import { createIsnGenerator } from '../../src/tcp/isn.ts';
import { chooseEphemeralPort } from '../../src/tcp/ports.ts';
import { RttEstimator } from '../../src/tcp/rto.ts';

describe('RttEstimator (RFC 6298)', () => {
  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4*RTTVAR', () => {
    const e = new RttEstimator(1000, 200, 120_000);
    expect(e.rto).toBe(1000);
    e.sample(500);
    expect([e.srtt, e.rttvar, e.rto]).toEqual([500, 250, 1500]);
    e.sample(300);
    expect(e.rttvar).toBeCloseTo(0.75 * 250 + 0.25 * 200);
    expect(e.srtt).toBeCloseTo(0.875 * 500 + 0.125 * 300);
  });

  it('backs off by doubling up to the maximum, and clamps to the minimum', () => {
    const e = new RttEstimator(1000, 200, 5000);
    e.backoff();
    e.backoff();
    expect(e.rto).toBe(4000);
    e.backoff();
    expect(e.rto).toBe(5000);
    e.sample(1);
    expect(e.rto).toBe(200);
  });
});

describe('NewReno window (RFC 5681, RFC 3465)', () => {
  const ack = (bytesAcked: number, flightSize = 1 << 30) => ({ bytesAcked, flightSize, srtt: 0, cwndLimited: true });

  it('starts at the RFC 6928 initial window', () => {
    expect(initialWindow(1460)).toBe(14600);
    expect(initialWindow(536)).toBe(5360);
    expect(initialWindow(9000)).toBe(18000);
    expect(new NewReno(1460).window()).toBe(14600);
  });

  it('slow start grows by at most 2 MSS per ACK (L = 2), 1 MSS after a timeout; congestion avoidance by one MSS per window', () => {
    const r = new NewReno(1000);
    r.onAck(ack(5000), 0);
    expect(r.window()).toBe(12_000);
    r.onRetransmitTimeout(20_000, 0);
    expect(r.window()).toBe(1000);
    expect(r.ssthresh).toBe(10_000);
    r.onAck(ack(5000), 0);
    expect(r.window()).toBe(2000);
    for (let i = 0; i < 8; i++) r.onAck(ack(1000), 0);
    expect(r.window()).toBe(10_000);
    r.onAck(ack(9_999), 0);
    expect(r.window()).toBe(10_000);
    r.onAck(ack(1), 0);
    expect(r.window()).toBe(11_000);
  });

  it('does not grow a window the sender is not using', () => {
    const r = new NewReno(1000);
    r.onAck({ bytesAcked: 1000, flightSize: 2000, srtt: 0, cwndLimited: false }, 0);
    expect(r.window()).toBe(10_000);
  });

  it('timeout: ssthresh = max(FlightSize/2, 2*MSS); congestion event: cwnd = ssthresh', () => {
    const r = new NewReno(1000);
    r.onRetransmitTimeout(1000, 0);
    expect(r.ssthresh).toBe(2000);
    r.onCongestionEvent(30_000, 0);
    expect([r.ssthresh, r.window()]).toEqual([15_000, 15_000]);
  });
});

describe('ISN generator (RFC 6528)', () => {
  const secret = new Uint8Array(16).fill(7);

  it('is deterministic for a given secret, 4-tuple and time', () => {
    const a = createIsnGenerator(secret);
    const b = createIsnGenerator(secret);
    expect(a(1, 2, 3, 4, 1000)).toBe(b(1, 2, 3, 4, 1000));
  });

  it('advances with a 4 µs clock', () => {
    const g = createIsnGenerator(secret);
    const t0 = g(1, 2, 3, 4, 0);
    expect((g(1, 2, 3, 4, 1) - t0) >>> 0).toBe(250);
    expect((g(1, 2, 3, 4, 1000) - t0) >>> 0).toBe(250_000);
  });

  it('differs between 4-tuples and between secrets', () => {
    const g = createIsnGenerator(secret);
    expect(g(1, 2, 3, 4, 0)).not.toBe(g(1, 2, 3, 5, 0));
    expect(createIsnGenerator(new Uint8Array(16).fill(8))(1, 2, 3, 4, 0)).not.toBe(g(1, 2, 3, 4, 0));
  });
});

describe('ephemeral ports (RFC 6056 algorithm 1)', () => {
  it('starts at a random point and walks the range', () => {
    expect(chooseEphemeralPort(100, 199, () => 0.5, () => true)).toBe(150);
    expect(chooseEphemeralPort(100, 199, () => 0.5, (p) => p !== 150 && p !== 151)).toBe(152);
    expect(chooseEphemeralPort(100, 199, () => 0.995, (p) => p < 105)).toBe(100);
    expect(chooseEphemeralPort(100, 199, () => 0.5, () => false)).toBeNull();
    expect(chooseEphemeralPort(100, 199, () => Number.NaN, () => true)).toBe(100);
  });
});

describe('TcpConfig', () => {
  it('has the documented defaults and clamps the delayed-ACK timeout', () => {
    const c = resolveTcpConfig({ delAckMs: 900 });
    expect(c).toMatchObject({ rcvBuf: 65536, sndBuf: 65536, backlog: 128, synBacklog: 256, delAckMs: 500, timeWaitMs: 60_000 });
    expect(() => resolveTcpConfig({ rcvBuf: -1 })).toThrow(RangeError);
  });
});
