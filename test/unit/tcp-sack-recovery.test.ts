// SACK-based loss recovery (RFC 6675) against a model receiver in virtual
// time: several losses in one window repaired in about one round trip,
// where NewReno (RFC 6582) needs one round trip per hole.
import { describe, expect, it } from 'vitest';
import type { CongestionControlName } from '../../src/tcp/api.ts';
import type { Connection } from '../../src/tcp/connection.ts';
import { SackScoreboard } from '../../src/tcp/sack-scoreboard.ts';
import { runReceiver } from '../helpers/sack-receiver.ts';
import type { Emitted } from '../helpers/tcp-peer.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const MSS = 1460;
const ISS = 5000;
const RTT = 100;
const at = (i: number): number => ISS + 1 + i * MSS;

/**
 * A passive connection with a 100 ms RTT measured on the handshake, SACK
 * negotiated or not, that has `segments` full segments queued; returns the
 * initial window it sent.
 */
function sender(segments: number, sack: boolean, cc: CongestionControlName = 'newreno') {
  const peer = new TcpPeer({ config: { sndBuf: 1 << 20 } });
  const server = peer.listen({ congestionControl: cc });
  peer.send({ flags: 'S', seq: 1000, options: sack ? { mss: MSS, sackPermitted: true } : { mss: MSS } });
  const synAck = peer.expect({ flags: 'SA' });
  peer.advance(RTT);
  peer.send({ flags: 'A', seq: 1001, ack: ISS + 1 });
  const app = server.accept()!;
  const conn = app.conn as unknown as Connection;
  expect(synAck.options.sackPermitted === true).toBe(sack);
  app.write(new Uint8Array(segments * MSS).fill(7));
  const first = peer.drain();
  return { peer, app, conn, first };
}

const seqs = (segs: Emitted[]): number[] => segs.map((s) => (s.seq - ISS - 1) / MSS);

describe('SACK recovery (RFC 6675)', () => {
  for (const losses of [
    [12, 15],
    [12, 15, 18],
  ]) {
    it(`${losses.length} losses in one window: every hole is retransmitted within one RTT (NewReno needs ${losses.length})`, () => {
      const run = (sack: boolean) => {
        const { peer, conn, first } = sender(60, sack);
        const log = runReceiver(peer, first, at(0), {
          rttMs: RTT,
          sack,
          peerSeq: 1001,
          dropFirst: losses.map(at),
          untilMs: 10_000,
          untilAcked: at(60),
        });
        return { log, conn, peer };
      };

      const withSack = run(true);
      const rtx = withSack.log.retransmissions;
      expect(seqs(rtx)).toEqual(losses);
      const t0 = rtx[0]!.time;
      // All holes repaired before the first repair could even be acknowledged.
      for (const s of rtx) expect(s.time - t0).toBeLessThan(RTT);
      expect(withSack.log.rcvNxt).toBe(at(60));
      expect(withSack.conn.getInfo()).toMatchObject({ sackRecoveries: 1, fastRetransmits: 1, rtoTimeouts: 0, recovery: 'none' });
      expect(withSack.peer.tcp.stats).toMatchObject({ sackRecoveries: 1, fastRetransmits: 1, rtoTimeouts: 0 });

      const newReno = run(false);
      const nrtx = newReno.log.retransmissions;
      expect(seqs(nrtx)).toEqual(losses);
      // One hole per round trip: each partial ACK reveals the next.
      for (let i = 1; i < nrtx.length; i++) expect(nrtx[i]!.time - nrtx[i - 1]!.time).toBeGreaterThanOrEqual(RTT);
      expect(newReno.conn.getInfo()).toMatchObject({ sackRecoveries: 0, fastRetransmits: 1, rtoTimeouts: 0 });
      // And SACK is done no later.
      expect(withSack.peer.now).toBeLessThanOrEqual(newReno.peer.now);
    });
  }

  it('a lost retransmission is sent again once data sent after it is SACKed, without a timeout', () => {
    const { peer, conn, first } = sender(30, true);
    // Segment 3 is lost, and its fast retransmission too.
    const log = runReceiver(peer, first, at(0), {
      rttMs: RTT,
      sack: true,
      peerSeq: 1001,
      dropCount: new Map([[at(3), 2]]),
      untilMs: 10_000,
      untilAcked: at(30),
    });
    expect(log.rcvNxt).toBe(at(30));
    expect(seqs(log.retransmissions)).toEqual([3, 3]);
    expect(log.retransmissions[1]!.time - log.retransmissions[0]!.time).toBeLessThanOrEqual(3 * RTT);
    expect(conn.getInfo()).toMatchObject({ sackRecoveries: 1, rtoTimeouts: 0, recovery: 'none' });
    expect(peer.tcp.stats.lostRetransmits).toBe(1);
  });

  it('a lost retransmission with nothing sent after it waits for the timeout, which clears the scoreboard (RFC 6675 §5.1)', () => {
    // The whole transfer fits in the initial window: no later data can be SACKed.
    const { peer, conn, first } = sender(10, true);
    let sawRecovery = false;
    const log = runReceiver(peer, first, at(0), {
      rttMs: RTT,
      sack: true,
      peerSeq: 1001,
      dropCount: new Map([[at(3), 2]]),
      untilMs: 10_000,
      untilAcked: at(10),
      onAck: () => {
        if (conn.getInfo().recovery === 'sack') sawRecovery = true;
      },
    });
    expect(sawRecovery).toBe(true);
    expect(log.rcvNxt).toBe(at(10));
    // Fast retransmit, then the timeout's; nothing the receiver SACKed is sent again.
    expect(seqs(log.retransmissions).filter((i) => i !== 9)).toEqual([3, 3]);
    expect(conn.getInfo()).toMatchObject({ sackRecoveries: 1, rtoTimeouts: 1, recovery: 'none', sackedBytes: 0 });
    expect(conn.recovery.scoreboard.isEmpty()).toBe(true);
  });

  it('after a timeout, go-back-N skips what the receiver SACKs since', () => {
    const { peer, conn, first } = sender(10, true);
    // Everything of the first window is lost but segment 9, and the
    // retransmission of 0 too: the timer fires twice.
    const log = runReceiver(peer, first, at(0), {
      rttMs: RTT,
      sack: true,
      peerSeq: 1001,
      dropCount: new Map([[at(0), 2], ...[1, 2, 3, 4, 5, 6, 7, 8].map((i): [number, number] => [at(i), 1])]),
      untilMs: 10_000,
      untilAcked: at(10),
    });
    expect(log.rcvNxt).toBe(at(10));
    // 9 arrived the first time (SACKed after the first timeout); it is never sent again.
    expect(seqs(log.retransmissions).filter((i) => i === 9)).toEqual([]);
    expect(seqs(log.retransmissions).sort((a, b) => a - b)).toEqual([0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(conn.getInfo().rtoTimeouts).toBe(2);
  });

  it('a recovery caused by reordering is undone when D-SACK reports the retransmission as a duplicate (RFC 3708)', () => {
    for (const cc of ['newreno', 'cubic'] as const) {
      const { peer, conn, first } = sender(80, true, cc);
      let before: { cwnd: number; ssthresh: number } | undefined;
      let during: { cwnd: number; ssthresh: number } | undefined;
      // Segment 12 is late by a whole RTT: three segments above it are
      // SACKed first, and it is fast-retransmitted, needlessly.
      const log = runReceiver(peer, first, at(0), {
        rttMs: RTT,
        sack: true,
        dsack: true,
        peerSeq: 1001,
        delayFirst: new Map([[at(12), RTT]]),
        untilMs: 10_000,
        untilAcked: at(80),
        onAck: () => {
          const info = conn.getInfo();
          if (info.recovery === 'none' && info.sackRecoveries === 0) before = { cwnd: info.cwnd, ssthresh: info.ssthresh };
          if (info.recovery === 'sack' && during === undefined) during = { cwnd: info.cwnd, ssthresh: info.ssthresh };
        },
      });
      expect(seqs(log.retransmissions)).toEqual([12]);
      expect(during!.cwnd).toBeLessThan(before!.cwnd);
      const info = conn.getInfo();
      expect(info).toMatchObject({ sackRecoveries: 1, recovery: 'none' });
      expect(peer.tcp.stats.recoveryUndos).toBe(1);
      // Back to the window before the reduction (it has grown since, too).
      expect(info.cwnd).toBeGreaterThanOrEqual(before!.cwnd);
      expect(info.ssthresh).toBe(Infinity);
    }
  });

  it('a D-SACK for a segment the network duplicated does not undo a real recovery', () => {
    const { peer, conn, first } = sender(30, true);
    const log = runReceiver(peer, first, at(0), { rttMs: RTT, sack: true, dsack: true, peerSeq: 1001, dropFirst: [at(12)], untilMs: 10_000, untilAcked: at(30) });
    expect(seqs(log.retransmissions)).toEqual([12]);
    const ssthresh = conn.getInfo().ssthresh;
    expect(ssthresh).toBeLessThan(Infinity);
    // A D-SACK naming segment 20, which was never retransmitted.
    peer.send({ flags: 'A', seq: 1001, ack: at(30), options: { sackBlocks: [{ left: at(20), right: at(21) }] } });
    expect(peer.tcp.stats.recoveryUndos).toBe(0);
    expect(conn.getInfo().ssthresh).toBe(ssthresh);
  });

  it('SACK blocks outside [SND.UNA, SND.MAX] are ignored; D-SACK below SND.UNA counts for nothing', () => {
    const { peer, conn } = sender(10, true);
    peer.send({ flags: 'A', seq: 1001, ack: at(0), options: { sackBlocks: [{ left: at(20), right: at(21) }] } });
    peer.send({ flags: 'A', seq: 1001, ack: at(0), options: { sackBlocks: [{ left: at(0) - 100, right: at(0) }] } });
    expect(conn.getInfo()).toMatchObject({ sackedBytes: 0, recovery: 'none' });
    // A block that SACKs more than DupThresh - 1 segments above SND.UNA starts recovery at once (IsLost(HighACK + 1)).
    peer.send({ flags: 'A', seq: 1001, ack: at(0), options: { sackBlocks: [{ left: at(1), right: at(4) }] } });
    expect(conn.getInfo()).toMatchObject({ sackedBytes: 3 * MSS, recovery: 'sack', lostBytes: MSS });
    expect(seqs(peer.drain().filter((s) => s.payload.length > 0))).toEqual([0]);
  });
});

describe('SackScoreboard', () => {
  it('merges overlapping and adjacent blocks and counts only new bytes', () => {
    const sb = new SackScoreboard();
    expect(sb.add(100, 200)).toBe(100);
    expect(sb.add(300, 400)).toBe(100);
    expect(sb.add(150, 250)).toBe(50);
    expect(sb.add(250, 300)).toBe(50);
    expect(sb.ranges()).toEqual([{ left: 100, right: 400 }]);
    expect(sb.add(120, 130)).toBe(0);
    expect(sb.sackedBytes).toBe(300);
  });

  it('advance drops what SND.UNA passed, trimming a straddling range', () => {
    const sb = new SackScoreboard();
    sb.add(100, 200);
    sb.add(300, 400);
    sb.advance(350);
    expect(sb.ranges()).toEqual([{ left: 350, right: 400 }]);
    expect(sb.sackedBytes).toBe(50);
  });

  it('works across the 2^32 wrap', () => {
    const sb = new SackScoreboard();
    const base = 0xffff_ff00;
    sb.add(base + 0x80, (base + 0x180) >>> 0);
    sb.add((base + 0x200) >>> 0, (base + 0x300) >>> 0);
    expect(sb.sackedBytes).toBe(0x200);
    expect(sb.sackedIn(base, (base + 0x400) >>> 0)).toBe(0x200);
    expect(sb.firstUnsacked(base + 0x80)).toBe((base + 0x180) >>> 0);
    expect(sb.lostBoundary(base, 3, 0x80)).toBe(base + 0x80);
  });

  it('IsLost: DupThresh ranges above, or more than (DupThresh - 1) * SMSS bytes above', () => {
    const sb = new SackScoreboard();
    sb.add(1000, 1100);
    sb.add(1200, 1300);
    expect(sb.lostBoundary(0, 3, 1000)).toBe(0);
    sb.add(1400, 1500);
    expect(sb.lostBoundary(0, 3, 1000)).toBe(1000);
    const big = new SackScoreboard();
    big.add(5000, 7001);
    expect(big.lostBoundary(0, 3, 1000)).toBe(5000);
    expect(new SackScoreboard().lostBoundary(42, 3, 1000)).toBe(42);
  });

  it('is bounded: a new range beyond maxRanges forgets the highest one', () => {
    const sb = new SackScoreboard(3);
    for (let i = 0; i < 5; i++) sb.add(i * 100, i * 100 + 10);
    expect(sb.rangeCount).toBe(3);
    expect(sb.ranges().map((r) => r.left)).toEqual([0, 100, 200]);
    expect(sb.overflows).toBe(2);
    sb.add(50, 60);
    expect(sb.ranges().map((r) => r.left)).toEqual([0, 50, 100]);
    expect(sb.sackedBytes).toBe(30);
  });
});
