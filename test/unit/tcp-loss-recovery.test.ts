// Loss recovery against a scripted peer, in virtual time: fast retransmit on
// the third duplicate ACK (RFC 5681 §3.2), limited transmit (RFC 3042),
// NewReno partial ACKs (RFC 6582), the timeout (RFC 5681 §3.1, RFC 6298).
import { describe, expect, it } from 'vitest';
import type { CongestionControlName } from '../../src/tcp/api.ts';
import type { Emitted } from '../helpers/tcp-peer.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const MSS = 1460;
const ISS = 5000;
/** First byte of segment i of our stream. */
const at = (i: number): number => ISS + 1 + i * MSS;
const fill = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);
const dataSegs = (out: Emitted[]): Emitted[] => out.filter((s) => s.payload.length > 0);

/**
 * A passive connection (RTT measured on the handshake: 100 ms, so RTO = 300
 * ms) that has written `segments` full segments; the initial window (10)
 * went out at once and is drained.
 */
function sender(segments: number, cc: CongestionControlName = 'newreno'): { peer: TcpPeer; conn: ReturnType<TcpPeer['establishPassive']>['conn'] } {
  const peer = new TcpPeer();
  const server = peer.listen({ congestionControl: cc });
  peer.send({ flags: 'S', seq: 1000, options: { mss: MSS } });
  peer.expect({ flags: 'SA' });
  peer.advance(100);
  peer.send({ flags: 'A', seq: 1001, ack: ISS + 1 });
  const conn = server.accept()!;
  expect(conn.write(fill(segments * MSS))).toBe(segments * MSS);
  const first = dataSegs(peer.drain());
  expect(first.map((s) => s.seq)).toEqual(Array.from({ length: Math.min(10, segments) }, (_, i) => at(i)));
  return { peer, conn };
}

/** A pure ACK from the peer. */
const ackOf = (peer: TcpPeer, ack: number): void => peer.send({ flags: 'A', seq: 1001, ack });

describe('fast retransmit (RFC 5681 §3.2)', () => {
  it('the third duplicate ACK retransmits the missing segment at once; two do not', () => {
    const { peer, conn } = sender(10);
    // Segment 1 is lost; 2, 3, 4 arrive and each draws a duplicate ACK.
    ackOf(peer, at(1));
    ackOf(peer, at(1));
    ackOf(peer, at(1));
    peer.expectNothing();
    expect(conn.conn.getInfo()).toMatchObject({ fastRetransmits: 0, recovery: 'none' });
    ackOf(peer, at(1));
    peer.expect({ flags: 'A', seq: at(1), len: MSS, at: 100 });
    peer.expectNothing();
    expect(conn.conn.getInfo()).toMatchObject({ fastRetransmits: 1, recovery: 'newreno', totalRetransmits: 1, rtoTimeouts: 0 });
    expect(peer.tcp.stats).toMatchObject({ fastRetransmits: 1, rtoTimeouts: 0, retransmittedBytes: MSS });
  });

  it('an ACK that carries data or changes the window is no duplicate (RFC 5681 §2)', () => {
    const { peer, conn } = sender(10);
    ackOf(peer, at(1));
    ackOf(peer, at(1)); // duplicate 1
    peer.send({ flags: 'A', seq: 1001, ack: at(1), win: 60000 }); // the window changed
    peer.send({ flags: 'PA', seq: 1001, ack: at(1), win: 60000, data: 'x' }); // carries data
    peer.send({ flags: 'A', seq: 1002, ack: at(1), win: 60000 }); // duplicate 2
    expect(dataSegs(peer.drain())).toEqual([]);
    expect(conn.conn.getInfo().fastRetransmits).toBe(0);
    peer.send({ flags: 'A', seq: 1002, ack: at(1), win: 60000 }); // duplicate 3
    expect(dataSegs(peer.drain()).map((s) => s.seq)).toEqual([at(1)]);
  });

  it('limited transmit (RFC 3042): the first two duplicate ACKs each release one new segment', () => {
    const { peer, conn } = sender(14);
    ackOf(peer, at(0)); // nothing acknowledged yet: SND.UNA stays, this is the first duplicate
    expect(dataSegs(peer.drain()).map((s) => s.seq)).toEqual([at(10)]);
    ackOf(peer, at(0));
    expect(dataSegs(peer.drain()).map((s) => s.seq)).toEqual([at(11)]);
    // cwnd itself did not change.
    expect(conn.conn.getInfo().cwnd).toBe(10 * MSS);
    ackOf(peer, at(0));
    // The third: fast retransmit of segment 0, no new data (cwnd = ssthresh + 3 = 11 < 12 in flight).
    expect(dataSegs(peer.drain()).map((s) => s.seq)).toEqual([at(0)]);
    expect(conn.conn.getInfo()).toMatchObject({ ssthresh: 6 * MSS, cwnd: 9 * MSS, fastRetransmits: 1 });
  });
});

describe('NewReno fast recovery (RFC 6582)', () => {
  it('two losses in one window: the partial ACK retransmits the second hole at once, the full ACK ends recovery', () => {
    const { peer, conn } = sender(20);
    // Segments 0 and 4 are lost. 1, 2, 3 arrive: three duplicates; the first
    // two release segments 10 and 11 (limited transmit), the third
    // retransmits 0.
    for (let i = 0; i < 3; i++) ackOf(peer, at(0));
    expect(dataSegs(peer.drain()).map((s) => s.seq)).toEqual([at(10), at(11), at(0)]);
    // ssthresh = FlightSize (12 segments) / 2; cwnd = ssthresh + 3 segments.
    expect(conn.conn.getInfo()).toMatchObject({ ssthresh: 6 * MSS, cwnd: 9 * MSS, recovery: 'newreno' });
    // 5..11 arrive: seven more duplicates inflate the window by one segment
    // each; once it exceeds the 12 segments in flight, new data goes out.
    const sentDuringDups: number[] = [];
    for (let i = 0; i < 7; i++) {
      ackOf(peer, at(0));
      sentDuringDups.push(...dataSegs(peer.drain()).map((s) => s.seq));
    }
    expect(conn.conn.getInfo().cwnd).toBe(16 * MSS);
    expect(sentDuringDups).toEqual([at(12), at(13), at(14), at(15)]);

    // One RTT later the retransmitted 0 arrives: the receiver acknowledges
    // up to the next hole (4). That partial ACK retransmits 4 at once.
    peer.advance(100);
    ackOf(peer, at(4));
    const afterPartial = dataSegs(peer.drain());
    expect(afterPartial.map((s) => [s.seq, s.payload.length, s.time])).toEqual([
      [at(4), MSS, 200],
      [at(16), MSS, 200],
    ]);
    // Deflated by the 4 segments acknowledged, plus one back: 16 - 4 + 1.
    expect(conn.conn.getInfo()).toMatchObject({ recovery: 'newreno', cwnd: 13 * MSS });

    // The retransmitted 4 arrives: everything up to 16 is acknowledged, past
    // the recovery point (12): the full ACK. cwnd = min(ssthresh, FlightSize + 1 segment).
    peer.advance(100);
    ackOf(peer, at(16));
    expect(conn.conn.getInfo()).toMatchObject({ recovery: 'none', cwnd: 2 * MSS, ssthresh: 6 * MSS });
    expect(conn.conn.getInfo()).toMatchObject({ fastRetransmits: 1, rtoTimeouts: 0, totalRetransmits: 2 });
    expect(peer.tcp.stats.rtoTimeouts).toBe(0);
  });

  it('duplicate ACKs below the recover point after a timeout start no new fast retransmit (RFC 6582 §3.2 step 1)', () => {
    const { peer, conn } = sender(10);
    peer.advance(300); // RTO: go-back-N from segment 0
    expect(dataSegs(peer.drain()).map((s) => s.seq)).toEqual([at(0)]);
    // The receiver held 2..9 and lost 0 and 1 — its ACKs after the
    // retransmission of 0 are duplicates at 1, below recover (= 10).
    ackOf(peer, at(1));
    peer.drain();
    for (let i = 0; i < 4; i++) ackOf(peer, at(1));
    expect(conn.conn.getInfo()).toMatchObject({ fastRetransmits: 0, recovery: 'none', rtoTimeouts: 1 });
  });
});

describe('retransmission timeout', () => {
  it('backs off exponentially; cwnd collapses to one segment; ssthresh from the first timeout only', () => {
    const { peer, conn } = sender(10, 'cubic');
    peer.advance(300);
    expect(dataSegs(peer.drain()).map((s) => [s.seq, s.time])).toEqual([[at(0), 400]]);
    // CUBIC: ssthresh = 0.7 * FlightSize.
    expect(conn.conn.getInfo()).toMatchObject({ cwnd: MSS, ssthresh: Math.floor(0.7 * 10 * MSS), rtoTimeouts: 1, rto: 600 });
    peer.advance(600);
    peer.advance(1200);
    expect(dataSegs(peer.drain()).map((s) => [s.seq, s.time])).toEqual([
      [at(0), 1000],
      [at(0), 2200],
    ]);
    expect(conn.conn.getInfo()).toMatchObject({ cwnd: MSS, ssthresh: Math.floor(0.7 * 10 * MSS), rtoTimeouts: 3, rto: 2400 });
    expect(peer.tcp.stats.rtoTimeouts).toBe(3);
    // The ACK of the retransmission: slow start again, one segment at a time (L = 1 after a timeout).
    ackOf(peer, at(1));
    expect(conn.conn.getInfo().cwnd).toBe(2 * MSS);
    expect(dataSegs(peer.drain()).map((s) => s.seq)).toEqual([at(1), at(2)]);
  });

  it('RFC 6298 bounds: the minimum is configurable (default 200 ms), the backoff stops at maxRtoMs', () => {
    const peer = new TcpPeer({ config: { minRtoMs: 50, maxRtoMs: 1000, maxRetries: 6 } });
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: MSS } });
    peer.expect({ flags: 'SA' });
    peer.advance(20);
    peer.send({ flags: 'A', seq: 1001, ack: ISS + 1 });
    const conn = server.accept()!;
    // SRTT 20 + 4 * RTTVAR 10 = 60 ms, above the 50 ms floor.
    expect(conn.conn.getInfo().rto).toBe(60);
    conn.write('x');
    peer.drain();
    peer.advance(10_000);
    const times = peer.drain().filter((s) => s.payload.length > 0).map((s) => s.time);
    const gaps = times.map((t, i) => t - (i === 0 ? 20 : times[i - 1]!));
    expect(gaps).toEqual([60, 120, 240, 480, 960, 1000]);
    expect(new TcpPeer().establishPassive().conn.conn.getInfo().rto).toBe(200);
  });

  it('a timeout during NewReno recovery abandons it; recovery points move to SND.MAX', () => {
    const { peer, conn } = sender(10);
    for (let i = 0; i < 3; i++) ackOf(peer, at(0));
    peer.drain();
    expect(conn.conn.getInfo().recovery).toBe('newreno');
    peer.advance(300);
    expect(dataSegs(peer.drain()).map((s) => s.seq)).toEqual([at(0)]);
    expect(conn.conn.getInfo()).toMatchObject({ recovery: 'none', cwnd: MSS, rtoTimeouts: 1 });
  });
});
