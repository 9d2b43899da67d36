// CUBIC (RFC 9438): the reduction by β = 0.7, the window along
// W_cubic(t) = C (t - K)^3 + W_max after it, the Reno-friendly region, fast
// convergence, and the algorithm registry.
import { describe, expect, it } from 'vitest';
import { createCongestionControl, congestionControlNames, registerCongestionControl } from '../../src/tcp/congestion/registry.ts';
import { Cubic, CUBIC_ALPHA, cubicK, wCubic } from '../../src/tcp/congestion/cubic.ts';
import { NewReno } from '../../src/tcp/congestion/newreno.ts';
import type { Connection } from '../../src/tcp/connection.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';
import { VirtualNet } from '../helpers/virtual-net.ts';

const MSS = 1000;

/**
 * An ACK clock at a constant rate of one window per RTT: every `stepMs`, the
 * bytes of cwnd * stepMs / rtt are acknowledged. Returns cwnd (segments)
 * at the times asked for (seconds since the first ACK).
 */
function drive(cc: Cubic, rttMs: number, untilS: number, sampleAt: number[], stepMs = 5): Map<number, number> {
  const out = new Map<number, number>();
  const want = [...sampleAt].sort((a, b) => a - b);
  let carry = 0;
  for (let now = 0; now <= untilS * 1000 + 1e-9; now += stepMs) {
    carry += (cc.window() * stepMs) / rttMs;
    const bytes = Math.floor(carry);
    carry -= bytes;
    cc.onAck({ bytesAcked: bytes, flightSize: cc.window(), srtt: rttMs, cwndLimited: true }, now);
    while (want.length > 0 && now >= want[0]! * 1000 - 1e-9) out.set(want.shift()!, cc.window() / MSS);
  }
  return out;
}

describe('CUBIC (RFC 9438)', () => {
  it('a congestion event sets ssthresh = cwnd = β * FlightSize, W_max = cwnd', () => {
    const cc = new Cubic(MSS);
    cc.setWindow(100 * MSS, 0);
    cc.onCongestionEvent(100 * MSS, 0);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.window()).toBe(70 * MSS);
    expect(cc.state.wMax).toBe(100);
  });

  it('grows along W_cubic(t) = C (t - K)^3 + W_max: concave up to W_max at t = K, convex beyond', () => {
    const cc = new Cubic(MSS);
    cc.setWindow(100 * MSS, 0);
    cc.onCongestionEvent(100 * MSS, 0);
    const k = cubicK(100, 70);
    expect(k).toBeCloseTo(Math.cbrt(30 / 0.4), 10); // 4.217 s
    // A long RTT keeps Reno's estimate (+0.53 segment per RTT) below the curve.
    const rtt = 500;
    const points = [1, 2, 3, k, 5, 6, 7];
    const seen = drive(cc, rtt, 7, points);
    expect(cc.state.k).toBeCloseTo(k, 10);
    for (const t of points) {
      const expected = wCubic(t, k, 100);
      // The window aims one RTT ahead and closes the gap over one window of
      // ACKs: it stays within a segment of W(t), never ahead of W(t + RTT).
      const got = seen.get(t)!;
      expect(got, `t = ${t.toFixed(3)} s`).toBeGreaterThanOrEqual(expected - 1);
      expect(got, `t = ${t.toFixed(3)} s`).toBeLessThanOrEqual(wCubic(t + rtt / 1000, k, 100) + 0.5);
    }
    // The plateau: at t = K the window is back at W_max.
    expect(seen.get(k)!).toBeGreaterThan(99);
    expect(seen.get(k)!).toBeLessThan(100.5);
  });

  it('in the Reno-friendly region (short RTT) the window follows W_est, α = 3(1-β)/(1+β), then 1 past W_max', () => {
    const cc = new Cubic(MSS);
    cc.setWindow(100 * MSS, 0);
    cc.onCongestionEvent(100 * MSS, 0);
    const rtt = 10;
    const seen = drive(cc, rtt, 1, [0.25, 0.5, 1], 1);
    expect(CUBIC_ALPHA).toBeCloseTo(0.5294, 4);
    // W_est = 70 + α * t / RTT (segments), above W_cubic there.
    expect(wCubic(0.5, cubicK(100, 70), 100)).toBeLessThan(80);
    expect(seen.get(0.25)!).toBeCloseTo(70 + CUBIC_ALPHA * 25, 0);
    expect(seen.get(0.5)!).toBeCloseTo(70 + CUBIC_ALPHA * 50, 0);
    // W_est reaches cwnd_prior = 100 after 30 / α RTTs; α = 1 from there.
    const rttsToPrior = 30 / CUBIC_ALPHA;
    expect(seen.get(1)!).toBeCloseTo(100 + (100 - rttsToPrior), 0);
  });

  it('fast convergence: a loss below the previous W_max lowers W_max to cwnd (1 + β) / 2', () => {
    const cc = new Cubic(MSS);
    cc.setWindow(100 * MSS, 0);
    cc.onCongestionEvent(100 * MSS, 0);
    cc.setWindow(90 * MSS, 0);
    cc.onCongestionEvent(90 * MSS, 0);
    expect(cc.state.wMax).toBeCloseTo(90 * 0.85, 10);
    expect(cc.ssthresh).toBe(63 * MSS);
  });

  it('timeout: ssthresh = β * FlightSize, cwnd = 1 segment; the next epoch starts with K = 0 at cwnd', () => {
    const cc = new Cubic(MSS);
    cc.setWindow(50 * MSS, 0);
    cc.onRetransmitTimeout(40 * MSS, 0);
    expect(cc.window()).toBe(MSS);
    expect(cc.ssthresh).toBe(28 * MSS);
    // Slow start (one segment per ACK after a timeout) to ssthresh, then the first CA ACK starts the epoch.
    for (let i = 0; i < 27; i++) cc.onAck({ bytesAcked: MSS, flightSize: cc.window(), srtt: 100, cwndLimited: true }, 0);
    expect(cc.window()).toBe(28 * MSS);
    cc.onAck({ bytesAcked: MSS, flightSize: cc.window(), srtt: 100, cwndLimited: true }, 5);
    expect(cc.state).toMatchObject({ k: 0, origin: 28, epochStart: 5 });
  });
});

describe('CUBIC through the state machine', () => {
  it('fast retransmit reduces to 0.7 of the flight, then the window grows along the cubic curve', () => {
    const RTT = 800; // below the initial RTO of 1 s: the handshake gives the first sample
    const mss = 1460;
    const peer = new TcpPeer({ config: { sndBuf: 1 << 22 } });
    const server = peer.listen({ congestionControl: 'cubic' });
    peer.send({ flags: 'S', seq: 1000, options: { mss } });
    peer.expect({ flags: 'SA' });
    peer.advance(RTT);
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    const app = server.accept()!;
    const conn = app.conn as unknown as Connection;
    app.write(new Uint8Array(4 << 20));
    // Segment 0 is lost; the others draw duplicate ACKs (two of them
    // release segments 10 and 11 by limited transmit).
    const first = peer.drain().filter((s) => s.payload.length > 0);
    expect(first).toHaveLength(10);
    for (let i = 0; i < 3; i++) peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    const flight = 12 * mss;
    expect(conn.cc.ssthresh).toBe(Math.floor(0.7 * flight));
    expect(app.conn.getInfo()).toMatchObject({ congestionControl: 'cubic', recovery: 'newreno', fastRetransmits: 1 });

    // From here on the peer acknowledges everything it gets one RTT later
    // (the retransmission included, so the first of those ACKs ends recovery).
    let pending = peer.drain().filter((s) => s.payload.length > 0).map((s) => ({ due: s.time + RTT, end: s.seq + s.payload.length }));
    pending.push(...first.slice(1).map(() => ({ due: peer.now, end: 5001 })));
    let highest = 5001;
    const samples: { t: number; cwnd: number }[] = [];
    for (let round = 0; round < 10_000 && peer.now < 10 * RTT; round++) {
      pending.sort((a, b) => a.due - b.due);
      const next = pending.shift();
      if (next === undefined) break;
      if (next.due > peer.now) peer.advance(next.due - peer.now);
      highest = Math.max(highest, next.end);
      peer.send({ flags: 'A', seq: 1001, ack: highest });
      for (const s of peer.drain()) if (s.payload.length > 0) pending.push({ due: s.time + RTT, end: s.seq + s.payload.length });
      const epoch = (conn.cc as Cubic).state.epochStart;
      if (epoch !== null) samples.push({ t: (peer.now - epoch) / 1000, cwnd: conn.cc.window() / mss });
    }
    const { k, wMax, origin } = (conn.cc as Cubic).state;
    // W_max is the 10-segment window at the loss; the epoch starts near ssthresh = 8.4 segments.
    expect(wMax).toBe(10);
    expect(origin).toBe(10);
    expect(k).toBeGreaterThan(1);
    expect(k).toBeLessThan(2);
    expect(samples.length).toBeGreaterThan(50);
    // Never ahead of the curve one RTT out (+ one segment of per-ACK rounding).
    for (const { t, cwnd } of samples) expect(cwnd, `t = ${t.toFixed(2)} s`).toBeLessThanOrEqual(wCubic(t + RTT / 1000, k, wMax) + 1);
    // At the end of each round trip's burst of ACKs the window is on the
    // curve: between W(t) and W(t + RTT). (The first burst, at t = 0, is in
    // the Reno-friendly region: W_cubic(0) = cwnd_epoch < W_est.) Checked
    // while the sender is window-limited by cwnd, not by the peer's 64 KB.
    // (The loop may stop inside the last burst: not counted.)
    const burstEnds = samples.filter((s, i) => i < samples.length - 1 && samples[i + 1]!.t !== s.t);
    const onCurve = burstEnds.filter((s) => s.t > 0 && s.cwnd < 44);
    expect(onCurve.length).toBeGreaterThanOrEqual(6);
    for (const { t, cwnd } of onCurve) {
      expect(cwnd, `t = ${t.toFixed(2)} s`).toBeGreaterThanOrEqual(wCubic(t, k, wMax) - 1);
      expect(cwnd, `t = ${t.toFixed(2)} s`).toBeLessThanOrEqual(wCubic(t + RTT / 1000, k, wMax) + 1);
    }
    // Concave below W_max = 10 until t = K, convex and fast beyond it.
    expect(onCurve.filter((s) => s.t < k).every((s) => s.cwnd < 10.5)).toBe(true);
    expect(onCurve.at(-1)!.cwnd).toBeGreaterThan(25);
  });
});

describe('congestion control registry', () => {
  it('creates the built-in algorithms by name; the default is cubic', () => {
    expect(congestionControlNames()).toEqual(expect.arrayContaining(['newreno', 'cubic']));
    expect(createCongestionControl('newreno', 1460).name).toBe('newreno');
    expect(createCongestionControl('cubic', 1460).name).toBe('cubic');
    expect(() => createCongestionControl('bbr', 1460)).toThrow(/unknown congestion control "bbr"/);
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    expect(conn.conn.getInfo().congestionControl).toBe('cubic');
  });

  it('the socket API passes the choice down: net.connect and createServer options', async () => {
    const vnet = new VirtualNet({ tcpA: { congestionControl: 'cubic' }, tcpB: { congestionControl: 'cubic' } });
    let accepted: Socket | undefined;
    vnet.b.net.createServer({ congestionControl: 'newreno' }, (s) => (accepted = s)).listen(80);
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 80, congestionControl: 'newreno' });
    const other = vnet.a.net.connect({ host: '10.0.0.2', port: 80 });
    await vnet.until(() => accepted !== undefined && client.getInfo()?.state === 'ESTABLISHED' && other.getInfo()?.state === 'ESTABLISHED', 5_000);
    expect(client.getInfo()?.congestionControl).toBe('newreno');
    expect(accepted!.getInfo()?.congestionControl).toBe('newreno');
    expect(other.getInfo()?.congestionControl).toBe('cubic');
    client.destroy();
    other.destroy();
  });

  it('a third algorithm plugs in by name, per socket and as the stack default', () => {
    class Fixed extends NewReno {
      override readonly name = 'fixed-test' as 'newreno';
    }
    registerCongestionControl('fixed-test', (mss) => new Fixed(mss));
    const peer = new TcpPeer({ config: { congestionControl: 'fixed-test' } });
    const { conn } = peer.establishPassive();
    expect(conn.conn.getInfo().congestionControl).toBe('fixed-test');
    const other = new TcpPeer();
    expect(() => other.listen({ congestionControl: 'nope' })).toThrow(/EINVAL|unknown congestion control/);
    expect(() => new TcpPeer({ config: { congestionControl: 'nope' } })).toThrow(/not registered/);
  });
});
