// Retransmission (RFC 6298, RFC 9293 §3.8.1), Karn's rule, SYN retries, keepalive.
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/tcp/connection.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const fill = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** A passive connection whose handshake measured an RTT of 100 ms: RTO = 100 + 4*50 = 300 ms. */
function establishedWithRtt100(config = {}): { peer: TcpPeer; conn: ReturnType<TcpPeer['establishPassive']>['conn'] } {
  const peer = new TcpPeer({ config });
  const server = peer.listen();
  peer.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
  peer.expect({ flags: 'SA', seq: 5000, ack: 1001 });
  peer.advance(100);
  peer.send({ flags: 'A', seq: 1001, ack: 5001 });
  const conn = server.accept()!;
  expect(conn.conn.getInfo()).toMatchObject({ srtt: 100, rttvar: 50, rto: 300 });
  return { peer, conn };
}

describe('retransmission timeout (RFC 6298)', () => {
  it('retransmits from SND.UNA with exponential backoff, then ETIMEDOUT with an RST', () => {
    const { peer, conn } = establishedWithRtt100({ maxRetries: 3 });
    conn.write('data');
    peer.expect({ flags: 'PA', seq: 5001, data: 'data', at: 100 });
    peer.advance(10_000);
    peer.expect({ flags: 'PA', seq: 5001, data: 'data', at: 400 });
    peer.expect({ flags: 'PA', seq: 5001, data: 'data', at: 1000 });
    peer.expect({ flags: 'PA', seq: 5001, data: 'data', at: 2200 });
    peer.expect({ flags: 'R', seq: 5005, at: 4600 });
    peer.expectNothing();
    expect(conn.events).toEqual(['close:ETIMEDOUT']);
    expect(conn.state).toBe('CLOSED');
    expect(peer.tcp.stats.timeouts).toBe(1);
    expect(peer.tcp.stats.retransmittedSegments).toBe(3);
    expect(peer.tcp.connectionCount).toBe(0);
  });

  it('the default of 15 retries with RTO capped at maxRto', () => {
    const { peer, conn } = establishedWithRtt100();
    conn.write('x');
    peer.expect({ flags: 'PA' });
    peer.advance(3_600_000);
    const rtx = peer.drain();
    expect(rtx.filter((s) => s.flags !== 0x04)).toHaveLength(15);
    const times = rtx.map((s) => s.time);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.at(-1)).toBe(120_000);
    expect(conn.events).toEqual(['close:ETIMEDOUT']);
  });

  it('go-back-N: the window collapses to one segment, later ones follow as ACKs return', () => {
    // RFC 5681 eq. 4 (ssthresh = FlightSize / 2) is NewReno's; CUBIC's is 0.7.
    const { peer, conn } = establishedWithRtt100({ congestionControl: 'newreno' });
    conn.write(fill(3 * 1460));
    for (let i = 0; i < 3; i++) peer.expect({ seq: 5001 + i * 1460, len: 1460, at: 100 });
    expect(conn.conn.getInfo().cwnd).toBe(14600);
    peer.advance(300);
    peer.expect({ seq: 5001, len: 1460, at: 400 });
    peer.expectNothing();
    expect(conn.conn.getInfo()).toMatchObject({ cwnd: 1460, ssthresh: 2920, sndNxt: 6461, retransmits: 1 });
    peer.send({ flags: 'A', seq: 1001, ack: 6461 });
    expect(conn.conn.getInfo().cwnd).toBe(2920);
    peer.expect({ seq: 6461, len: 1460 });
    peer.expect({ seq: 7921, len: 1460 });
    expect(peer.tcp.stats.retransmittedSegments).toBe(3);
  });

  it('an ACK for data sent before the rewind (up to SND.MAX) is acceptable', () => {
    const { peer, conn } = establishedWithRtt100();
    conn.write(fill(3 * 1460));
    peer.drain();
    peer.advance(300);
    peer.expect({ seq: 5001, len: 1460 });
    // The original transmissions did arrive; their (late) ACK covers everything.
    peer.send({ flags: 'A', seq: 1001, ack: 5001 + 3 * 1460 });
    peer.expectNothing();
    expect(conn.conn.getInfo()).toMatchObject({ sndUna: 9381, sndNxt: 9381, bytesInFlight: 0, retransmits: 0 });
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
  });

  it("Karn's rule: no RTT sample from a retransmitted segment; the next fresh one is timed", () => {
    const { peer, conn } = establishedWithRtt100();
    conn.write('a');
    peer.expect({ data: 'a', at: 100 });
    peer.advance(300);
    peer.expect({ data: 'a', at: 400 });
    peer.advance(50);
    // Ambiguous: for the first or the second transmission? Not sampled.
    peer.send({ flags: 'A', seq: 1001, ack: 5002 });
    expect(conn.conn.getInfo()).toMatchObject({ srtt: 100, rttvar: 50, rto: 600 });
    conn.write('b');
    peer.expect({ data: 'b', at: 450 });
    peer.advance(20);
    peer.send({ flags: 'A', seq: 1001, ack: 5003 });
    // RFC 6298 §2.3 with R = 20: RTTVAR = 3/4*50 + 1/4*80 = 57.5, SRTT = 7/8*100 + 1/8*20 = 90.
    const info = conn.conn.getInfo();
    expect(info.srtt).toBeCloseTo(90);
    expect(info.rttvar).toBeCloseTo(57.5);
    expect(info.rto).toBeCloseTo(320);
  });

  it('times one segment at a time', () => {
    const { peer, conn } = establishedWithRtt100();
    conn.setNoDelay(true);
    conn.write('a');
    peer.advance(10);
    conn.write('b');
    peer.drain();
    peer.advance(10);
    // Acknowledges 'a' only: 20 ms after 'a' was sent.
    peer.send({ flags: 'A', seq: 1001, ack: 5002 });
    expect(conn.conn.getInfo().srtt).toBeCloseTo(90);
    // 'b' was not being timed: no second sample.
    peer.send({ flags: 'A', seq: 1001, ack: 5003 });
    expect(conn.conn.getInfo().srtt).toBeCloseTo(90);
  });

  it('the RTO never goes below minRto', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    expect(conn.conn.getInfo()).toMatchObject({ srtt: 0, rto: 200 });
  });
});

describe('SYN retransmission', () => {
  it('initialRto doubling, synRetries times, then ETIMEDOUT without RST', () => {
    const peer = new TcpPeer();
    const client = peer.connect();
    peer.advance(200_000);
    const times = peer.drain().map((s) => {
      expect(s.flags).toBe(0x02);
      return s.time;
    });
    expect(times).toEqual([0, 1000, 3000, 7000, 15000, 31000, 63000]);
    expect(client.events).toEqual(['close:ETIMEDOUT']);
    expect(peer.tcp.connectionCount).toBe(0);
  });

  it('fails exactly when the last SYN timer expires (127 s by default)', () => {
    const peer = new TcpPeer();
    const client = peer.connect();
    peer.advance(126_999);
    expect(client.state).toBe('SYN-SENT');
    peer.advance(1);
    expect(client.events).toEqual(['close:ETIMEDOUT']);
  });

  it('a handshake that needed a SYN retransmission starts with RTO = 3 s (RFC 6298 §5.7)', () => {
    const peer = new TcpPeer();
    const client = peer.connect();
    peer.advance(1500);
    expect(peer.drain()).toHaveLength(2);
    peer.send({ flags: 'SA', seq: 9000, ack: 5001 });
    peer.expect({ flags: 'A' });
    expect(client.conn.getInfo()).toMatchObject({ rto: 3000, srtt: 0 });
  });

  it('the SYN-ACK RTT is sampled on an active open', () => {
    const peer = new TcpPeer();
    const client = peer.connect();
    peer.expect({ flags: 'S' });
    peer.advance(40);
    peer.send({ flags: 'SA', seq: 9000, ack: 5001 });
    expect(client.conn.getInfo()).toMatchObject({ srtt: 40, rttvar: 20, rto: 200 });
  });
});

describe('keepalive (RFC 1122 §4.2.3.6)', () => {
  it('probes an idle connection with SEG.SEQ = SND.NXT - 1; answers keep it open', () => {
    const peer = new TcpPeer({ config: { keepAliveIntervalMs: 1000, keepAliveCount: 3 } });
    const { conn } = peer.establishPassive();
    conn.conn.setKeepAlive(true, 10_000, peer.now);
    peer.advance(10_000);
    peer.expect({ flags: 'A', seq: 5000, ack: 1001, len: 0, at: 10_000 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    peer.advance(10_000);
    peer.expect({ flags: 'A', seq: 5000, at: 20_000 });
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('keepAliveCount unanswered probes -> ETIMEDOUT', () => {
    const peer = new TcpPeer({ config: { keepAliveIntervalMs: 1000, keepAliveCount: 3 } });
    const { conn } = peer.establishPassive();
    conn.conn.setKeepAlive(true, 5000, peer.now);
    peer.advance(20_000);
    expect(peer.drain().map((s) => [s.time, s.flags])).toEqual([
      [5000, 0x10],
      [6000, 0x10],
      [7000, 0x10],
      [8000, 0x04],
    ]);
    expect(conn.events).toEqual(['close:ETIMEDOUT']);
  });

  it('is off by default', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
  });
});

describe('sequence numbers far from the ISS', () => {
  it('past 2^31 bytes into a connection, new data is still new data, not a retransmission', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    const c = conn.conn as unknown as Connection;
    let una = 5001;
    // Three strides of 2^30 bytes: only the send sequence variables jump
    // (as if that much had been sent and acknowledged; sending 3 GiB would
    // take far too long), then 200 real bytes go out and are ACKed. Markers
    // left at the handshake (end of retransmission, recovery points) would
    // be more than 2^31 behind by the second stride and compare as ahead.
    for (let stride = 1; stride <= 3; stride++) {
      una = (una + 2 ** 30) >>> 0;
      c.sndUna = una;
      c.sndNxt = una;
      c.sndMax = una;
      c.sndWl2 = una;
      conn.write(fill(200, stride));
      peer.expect({ flags: 'PA', seq: una, len: 200 });
      una = (una + 200) >>> 0;
      peer.send({ flags: 'A', seq: 1001, ack: una });
    }
    expect(peer.tcp.stats.retransmittedSegments).toBe(0);
    expect(conn.conn.getInfo().totalRetransmits).toBe(0);
  });
});
