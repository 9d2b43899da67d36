/**
 * RFC 7323 §3-§5: the Timestamps option once negotiated (syn-options.ts
 * decides that): our TSval clock, TS.Recent and its update rule, round-trip
 * measurement from the echoed value (RTTM), and protection against wrapped
 * sequence numbers (PAWS).
 *
 * Timestamp values are 32-bit numbers on a circle like sequence numbers, so
 * they are compared with the same modular arithmetic (seq.ts).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Ipv4Address } from '../ip/address.ts';
import type { Connection } from './connection.ts';
import { seqAdd, seqDiff, seqGe, seqLe } from './seq.ts';

/** The fields of an arriving segment PAWS looks at (segment-arrives.ts `Incoming` has them). */
export interface PawsSegment {
  readonly rst: boolean;
  readonly syn: boolean;
  readonly fin: boolean;
  /** SEG.SEQ as it arrived. */
  readonly origSeq: number;
  readonly ack: number;
  readonly hasAck: boolean;
  /** The raw window field. */
  readonly window: number;
  readonly payload: Uint8Array;
}

/**
 * RFC 7323 §5.5: a TS.Recent older than 24 days may be from a clock that
 * wrapped past it; it is then no basis for rejecting anything.
 */
export const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;
/** At most one ACK answering PAWS drops per this interval, per connection (Linux tcp_invalid_ratelimit). */
export const PAWS_ACK_INTERVAL_MS = 500;

/**
 * Per-connection offset added to our clock (RFC 7323 §7.1 recommends one,
 * so that TSval does not reveal the host's uptime nor correlate connections
 * to different hosts). A keyed hash of the two addresses, as Linux's
 * secure_tcp_ts_off: the same pair of hosts keeps one monotonic clock across
 * connections (which PAWS and TIME-WAIT reuse rely on), and the SYN-cookie
 * path can recompute it without state.
 */
export type TsOffsetGenerator = (localAddress: Ipv4Address, remoteAddress: Ipv4Address) => number;

export function createTsOffsetGenerator(secret: Uint8Array = randomBytes(16)): TsOffsetGenerator {
  const key = Uint8Array.from(secret);
  const pair = new Uint8Array(8);
  const dv = new DataView(pair.buffer);
  // The last pair and its offset: a server's connections mostly come from
  // one host at a time, and the offset depends on nothing else, so a run of
  // short connections from one client costs one HMAC, not one each.
  let lastLocal = -1;
  let lastRemote = -1;
  let lastOffset = 0;
  return (localAddress, remoteAddress) => {
    const local = localAddress >>> 0;
    const remote = remoteAddress >>> 0;
    if (local === lastLocal && remote === lastRemote) return lastOffset;
    dv.setUint32(0, local);
    dv.setUint32(4, remote);
    lastOffset = createHmac('sha256', key).update('tsoff').update(pair).digest().readUInt32BE(0);
    lastLocal = local;
    lastRemote = remote;
    return lastOffset;
  };
}

/**
 * Our TSval at `now`: one tick per millisecond (RFC 7323 §5.4 asks for
 * 1 ms to 1 s; Linux uses 1 ms), plus the connection's offset.
 */
export function tsClock(c: Connection, now: number): number {
  return seqAdd(c.tsOffset, Math.floor(now));
}

/**
 * PAWS (RFC 7323 §5.3, R1), before the sequence-number test: a segment
 * whose TSval is older than TS.Recent is an old duplicate from a previous
 * wrap of the sequence space, whatever its sequence number says. It is
 * dropped and counted, and answered with an ACK (the caller sends it).
 *
 * Exceptions: RSTs (§5.2: acceptable regardless of their timestamp); SYNs,
 * which get RFC 5961's challenge ACK instead (as in Linux); a TS.Recent
 * idle for more than 24 days (§5.5: it is replaced instead); and, as Linux
 * (tcp_disordered_ack), a pure duplicate ACK that merely arrived out of
 * order with a newer one: dropping it would lose a duplicate ACK that fast
 * retransmit counts, and it can change nothing else.
 *
 * The answering ACK is for a segment with text or FIN, whose sender needs
 * to learn where we are; an old bare ACK (a reordered one, typically) tells
 * us nothing and our reply would tell it nothing new. And it goes at most
 * once per PAWS_ACK_INTERVAL_MS per connection (Linux
 * tcp_invalid_ratelimit): a stream of stale segments must not become a
 * stream of ACKs.
 */
export function pawsRejects(c: Connection, seg: PawsSegment, now: number): boolean {
  if (!c.tsEnabled || !c.segHasTs || seg.rst || seg.syn) return false;
  if (seqGe(c.segTsVal, c.tsRecent)) return false;
  if (now - c.tsRecentStamp > PAWS_IDLE_MS) {
    c.tsRecent = c.segTsVal;
    c.tsRecentStamp = now;
    return false;
  }
  if (disorderedAck(c, seg)) return false;
  c.host.stats.pawsRejected++;
  if ((seg.payload.length > 0 || seg.fin) && now - c.pawsAckedAt >= PAWS_ACK_INTERVAL_MS) {
    c.pawsAckedAt = now;
    c.ackNow = true;
  }
  return true;
}

function disorderedAck(c: Connection, seg: PawsSegment): boolean {
  return (
    seg.hasAck &&
    !seg.syn &&
    !seg.fin &&
    seg.payload.length === 0 &&
    seg.origSeq === c.rcvNxt &&
    seg.ack === c.sndUna &&
    seg.window << c.sndWndShift === c.sndWnd &&
    seqDiff(c.tsRecent, c.segTsVal) <= c.rtt.rto
  );
}

/**
 * RFC 7323 §4.3 (R3 of §5.3): after a segment passed the window test,
 * "if SEG.TSval >= TS.Recent and SEG.SEQ <= Last.ACK.sent, then SEG.TSval
 * is copied to TS.Recent". The second condition makes us echo the timestamp
 * of the earliest segment we have not acknowledged yet, so that the peer's
 * RTT sample includes the time our delayed ACK held it back.
 */
export function updateTsRecent(c: Connection, origSeq: number, now: number): void {
  if (!c.tsEnabled || !c.segHasTs) return;
  if (seqGe(c.segTsVal, c.tsRecent) && seqLe(origSeq, c.lastAckSent)) {
    c.tsRecent = c.segTsVal;
    c.tsRecentStamp = now;
  }
}

/**
 * RTTM (RFC 7323 §4.1): an ACK that acknowledges new data and carries TSecr
 * measures RTT = now - TSecr, a sample on every such ACK and one that stays
 * valid across retransmissions (the echo names the transmission that
 * arrived, so Karn's ambiguity does not arise). Fed to the RFC 6298
 * estimator. Returns true when a sample was taken.
 *
 * The clock has whole milliseconds; `now` keeps its fraction, so a sample is
 * the true RTT rounded up to the tick at most. An echo from the future or
 * more than 2^31 ticks back is garbage and ignored.
 */
export function timestampRttSample(c: Connection, now: number): boolean {
  if (!c.tsEnabled || !c.segHasTs) return false;
  const ticks = seqDiff(tsClock(c, now), c.segTsEcr);
  if (ticks < 0) return false;
  c.rtt.sample(ticks + (now - Math.floor(now)));
  return true;
}

/** TS.Recent is set from a SYN (or SYN-ACK) without the window test (RFC 7323 §4.3, §3.2). */
export function recordSynTimestamp(c: Connection, tsVal: number, now: number): void {
  c.tsRecent = tsVal >>> 0;
  c.tsRecentStamp = now;
}
