/**
 * Loss recovery: everything between "an ACK arrived" and "the congestion
 * window says how much may be in flight", the same for every congestion
 * control algorithm (RFC 9438 §4.6 leaves fast recovery to these RFCs):
 *
 * - duplicate ACKs (RFC 5681 §2 definition; RFC 6675 §2 with SACK) and
 *   fast retransmit on the third (DupThresh = 3, RFC 5681 §3.2);
 * - limited transmit (RFC 3042): new data on the first two duplicate ACKs;
 * - NewReno fast recovery (RFC 6582) for peers without SACK: the recover
 *   point, window inflation per duplicate ACK, partial ACKs retransmitting
 *   the next hole at once and deflating, the full ACK ending it;
 * - SACK-based recovery (RFC 6675) when SACK was negotiated: the scoreboard
 *   (sack-scoreboard.ts), IsLost / pipe / NextSeg(), RecoveryPoint, the
 *   rescue retransmission — several holes in one window repaired in about
 *   one round trip instead of one per round trip;
 * - the timeout (RFC 5681 §3.1, RFC 6582 §3.2 step 4, RFC 6675 §5.1): the
 *   algorithm's reduction, the scoreboard cleared, recovery abandoned and
 *   no new one before the data sent so far is acknowledged;
 * - spurious recoveries (RFC 3708 detection with D-SACK, RFC 4015-style
 *   response): when the receiver reports every retransmission of a
 *   recovery as a duplicate, the loss was reordering and the window
 *   reduction is undone, as Linux does.
 *
 * The connection calls in at four places: before and after the ACK field
 * is processed (segment-arrives.ts), when output decides how much may be in
 * flight and what to retransmit (output.ts), and on the retransmission
 * timeout (timers.ts).
 */
import type { WindowState } from './congestion/congestion-control.ts';
import type { Connection } from './connection.ts';
import { ACK, FIN, PSH } from './flags.ts';
import { emit } from './output.ts';
import { SackScoreboard } from './sack-scoreboard.ts';
import { segmentOptions } from './segment-options.ts';
import type { TcpView } from './segment.ts';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin } from './seq.ts';
import { armRetransmitTimerIfIdle, restartRetransmitTimer } from './timers.ts';

/** RFC 5681 §3.2 and RFC 6675 §2: duplicate ACKs that signal a loss. */
export const DUP_THRESH = 3;
/** The most DupThresh grows to on a path that reorders (Linux tcp_max_reordering). */
export const MAX_DUP_THRESH = 300;

/** 'none' (Linux: Open/Disorder), 'newreno' (RFC 6582 fast recovery) or 'sack' (RFC 6675). */
export type RecoveryPhase = 'none' | 'newreno' | 'sack';

/** Retransmitted ranges remembered per recovery for undo; more and the recovery cannot be undone. */
const MAX_UNDO_RANGES = 64;
/** Retransmissions watched for loss per recovery; beyond that, only the timeout finds them. */
const MAX_WATCHED_RETRANSMISSIONS = 64;

/** A retransmission in SACK recovery, and SND.MAX when it left. */
interface WatchedRetransmission {
  left: number;
  right: number;
  highData: number;
}

/**
 * RFC 3708 §3: what a recovery retransmitted, so that D-SACK blocks can
 * show it was all unnecessary; and the window before it, to return to.
 */
interface UndoRecord {
  prior: WindowState;
  /** Retransmitted [left, right) ranges not yet reported duplicate. */
  lefts: number[];
  rights: number[];
  /** Too many retransmissions to track: this recovery stays. */
  overflow: boolean;
}

function newUndoRecord(prior: WindowState): UndoRecord {
  return { prior, lefts: [], rights: [], overflow: false };
}

export class LossRecovery {
  phase: RecoveryPhase = 'none';
  /** Duplicate ACKs in a row (RFC 5681 §2, or RFC 6675's with SACK). */
  dupAcks = 0;
  /**
   * DupThresh for this connection: 3 (RFC 5681), raised when SACK shows
   * the path reorders deeper than that (see noteReordering), back to 3
   * after a timeout.
   */
  dupThresh = DUP_THRESH;
  /**
   * RFC 6582 `recover` / RFC 6675 RecoveryPoint, as the first sequence
   * number NOT covered (SND.MAX when it was set): an ACK at or beyond it is
   * the full ACK, and no new recovery starts below it.
   */
  recoveryPoint: number;
  /** RFC 6675 HighRxt, exclusive: everything un-SACKed below it was retransmitted in this recovery. */
  highRxt: number;
  /** RFC 6675 RescueRxt (null: undefined). */
  rescueRxt: number | null = null;
  /** Fast retransmit or a NewReno partial ACK owes the segment at SND.UNA; output() sends it. */
  retransmitFirst = false;
  readonly scoreboard = new SackScoreboard();
  /**
   * SACK negotiated (RFC 2018 §2), set by syn-options.ts when the handshake
   * settles. Unlike Connection.sackPermitted, which means "offered" until
   * then, it is false before.
   */
  sackPermitted = false;

  // Taken before the ACK field is processed (RFC 5681 §2 compares with it).
  unaBefore = 0;
  flightBefore = 0;
  dupCandidate = false;
  /** Right edge of the highest SACKed range before this ACK (SND.UNA if none). */
  highSackBefore = 0;

  /** The latest recovery's retransmissions, until undone or replaced (SACK connections only). */
  undo: UndoRecord | null = null;
  /** This SACK recovery's retransmissions not yet delivered (see detectLostRetransmissions). */
  watched: WatchedRetransmission[] = [];
  /** Retransmissions found lost, to be sent again first. */
  again: WatchedRetransmission[] = [];

  // Counters (getInfo).
  fastRetransmits = 0;
  /** Recoveries found spurious by D-SACK and undone. */
  undos = 0;
  /** Retransmissions found lost by SACK and sent again without waiting for the timeout. */
  lostRetransmits = 0;
  newRenoRecoveries = 0;
  sackRecoveries = 0;
  rtoTimeouts = 0;
  retransmittedBytes = 0;

  constructor(iss: number) {
    // RFC 6582 §3.2: recover starts at the initial send sequence number.
    this.recoveryPoint = iss;
    this.highRxt = iss;
  }
}

/** Whether SACK-based recovery applies (RFC 6675 §1: only once SACK was negotiated, syn-options.ts). */
export function sackNegotiated(c: Connection): boolean {
  return c.recovery.sackPermitted;
}

// ---- arriving ACKs (segment-arrives.ts) -----------------------------------------

/**
 * Before the ACK field changes anything: RFC 5681 §2's duplicate ACK is
 * defined against SND.UNA and the window as they were.
 */
export function beforeAck(c: Connection, seg: TcpView): void {
  const r = c.recovery;
  r.unaBefore = c.sndUna;
  r.flightBefore = seqDiff(c.sndMax, c.sndUna);
  r.highSackBefore = r.scoreboard.highest() ?? c.sndUna;
  // RFC 5681 §2: (a) data outstanding, (b) no data carried, (c) neither SYN
  // nor FIN, (d) SEG.ACK = the highest ACK so far, (e) the same window.
  r.dupCandidate =
    r.flightBefore > 0 &&
    seg.payload.length === 0 &&
    !seg.syn &&
    !seg.fin &&
    seg.ack === c.sndUna &&
    seg.window * 2 ** c.sndWndShift === c.sndWnd;
}

/**
 * After the ACK field was processed (SND.UNA moved if it acknowledged new
 * data): the scoreboard, duplicate ACKs, entering, advancing and leaving
 * recovery, and the window growth of the algorithm outside recovery.
 * Whatever this makes sendable goes out with the output() that follows.
 */
export function afterAck(c: Connection, _seg: TcpView, now: number): void {
  const r = c.recovery;
  const una = c.sndUna;
  const advanced = seqGt(una, r.unaBefore);
  let bytesAcked = 0;
  if (advanced) {
    bytesAcked = seqDiff(una, r.unaBefore);
    // The FIN's sequence slot holds no byte.
    if (c.finSent && seqGt(una, c.finSeq) && seqLe(r.unaBefore, c.finSeq)) bytesAcked--;
    // The hole at the old SND.UNA was filled below SACKed data: reordering,
    // unless we had retransmitted it.
    if (seqGt(r.highSackBefore, r.unaBefore)) noteReordering(c, r.unaBefore);
    r.scoreboard.advance(una);
  }
  let dup = r.dupCandidate;
  if (sackNegotiated(c)) {
    // Parsed at arrival (segment-options.ts), not yet validated.
    const blocks = c.peerSackBlocks;
    if (blocks.length > 0 && r.undo !== null) checkDsack(c, blocks, now);
    if (blocks.length > 0) {
      // RFC 6675 §2: with SACK, a duplicate ACK is one that SACKs new data
      // (even if it also moves SND.UNA or changes the window).
      dup = updateScoreboard(c, blocks) > 0;
    }
  }
  // RFC 6675 §5: a cumulative ACK resets DupAcks; then this one may count.
  if (advanced) r.dupAcks = 0;
  if (dup) r.dupAcks++;

  switch (r.phase) {
    case 'none':
      if (advanced) growWindow(c, bytesAcked, now);
      if (!dup || !seqGe(una, r.recoveryPoint)) return;
      // RFC 6582 §3.2 step 1 / RFC 6675 §5.1: not below the last recovery
      // point (duplicate ACKs caused by our own go-back-N after a timeout
      // are no new loss).
      if (sackNegotiated(c) && !r.scoreboard.isEmpty()) {
        // RFC 6675 §5 (1)-(2): DupThresh duplicates, or IsLost(HighACK + 1).
        if (r.dupAcks >= r.dupThresh || seqGt(lostBoundary(c), una)) enterSackRecovery(c, now);
      } else if (r.dupAcks >= r.dupThresh) {
        enterNewRenoRecovery(c, now);
      }
      return;
    case 'newreno':
      if (advanced) {
        if (seqGe(una, r.recoveryPoint)) {
          // RFC 6582 §3.2 step 3, option (1): the full ACK. Deflate to at
          // most ssthresh, and to one segment more than what is still in
          // flight, so that leaving recovery is no burst.
          const flight = seqDiff(c.sndMax, una);
          c.cc.setWindow(Math.min(c.cc.ssthresh, Math.max(flight, c.fullSegmentSize()) + c.fullSegmentSize()), now);
          r.phase = 'none';
        } else {
          // RFC 6582 §3.2 step 3, the partial ACK: the next hole is lost
          // too; retransmit it now, deflate by what was acknowledged and
          // add back one segment if at least one was.
          r.retransmitFirst = true;
          const mss = c.fullSegmentSize();
          c.cc.setWindow(c.cc.window() - bytesAcked + (bytesAcked >= mss ? mss : 0), now);
        }
      } else if (dup) {
        // RFC 5681 §3.2 step 4: each further duplicate means a segment left
        // the network: inflate by one segment.
        c.cc.setWindow(c.cc.window() + c.fullSegmentSize(), now);
      }
      return;
    case 'sack':
      // RFC 6675 §5 (A): a cumulative ACK at or beyond RecoveryPoint ends
      // recovery; cwnd stays at the ssthresh set on entry. (B): otherwise
      // the scoreboard is up to date and pipe is computed when output asks.
      if (advanced && seqGe(una, r.recoveryPoint)) leaveSackRecovery(r);
      else detectLostRetransmissions(c);
      return;
  }
}

function growWindow(c: Connection, bytesAcked: number, now: number): void {
  const r = c.recovery;
  if (bytesAcked <= 0) return;
  c.cc.onAck(
    {
      bytesAcked,
      flightSize: r.flightBefore,
      srtt: c.rtt.srtt,
      // Linux's slow-start rule for tcp_is_cwnd_limited, used throughout.
      cwndLimited: 2 * r.flightBefore >= c.cc.window(),
    },
    now,
  );
}

/** RFC 5681 §3.2 steps 2-3 with RFC 6582's recover point. */
function enterNewRenoRecovery(c: Connection, now: number): void {
  const r = c.recovery;
  const flight = seqDiff(c.sndMax, c.sndUna);
  r.phase = 'newreno';
  r.recoveryPoint = c.sndMax;
  r.retransmitFirst = true;
  r.fastRetransmits++;
  r.newRenoRecoveries++;
  c.host.stats.fastRetransmits++;
  c.cc.onCongestionEvent(flight, now);
  // Three segments have left the network (the duplicates say so).
  c.cc.setWindow(c.cc.ssthresh + DUP_THRESH * c.fullSegmentSize(), now);
}

/** RFC 6675 §5 step 4. */
function enterSackRecovery(c: Connection, now: number): void {
  const r = c.recovery;
  r.phase = 'sack';
  r.recoveryPoint = c.sndMax;
  r.highRxt = c.sndUna;
  r.rescueRxt = null;
  r.retransmitFirst = true;
  r.fastRetransmits++;
  r.sackRecoveries++;
  c.host.stats.fastRetransmits++;
  c.host.stats.sackRecoveries++;
  r.undo = newUndoRecord({ cwnd: c.cc.window(), ssthresh: c.cc.ssthresh });
  r.watched.length = 0;
  r.again.length = 0;
  // (4.2) ssthresh = cwnd = the algorithm's reduction of FlightSize.
  c.cc.onCongestionEvent(seqDiff(c.sndMax, c.sndUna), now);
}

function leaveSackRecovery(r: LossRecovery): void {
  r.phase = 'none';
  r.watched.length = 0;
  r.again.length = 0;
}

/**
 * RFC 6675 finds a lost retransmission only by the timeout. But when data
 * sent after a retransmission is SACKed — more of it than DupThresh
 * segments, the same evidence IsLost() asks of an original — while the
 * retransmission itself is not, it was lost too, and is sent again at once
 * (Linux's tcp_mark_lost_retrans before RACK). A costly timeout saved for
 * every retransmission the path drops, which at 5% loss is one in twenty.
 */
function detectLostRetransmissions(c: Connection): void {
  const r = c.recovery;
  const sb = r.scoreboard;
  const una = c.sndUna;
  const enough = (r.dupThresh - 1) * c.fullSegmentSize();
  for (let i = r.watched.length - 1; i >= 0; i--) {
    const w = r.watched[i]!;
    // Delivered (cumulatively or SACKed): no longer in question.
    if (!seqGt(w.right, una) || sb.sackedUntil(seqMax(w.left, una)) !== undefined) {
      r.watched.splice(i, 1);
      continue;
    }
    if (sb.sackedIn(w.highData, c.sndMax) > enough) {
      r.watched.splice(i, 1);
      r.again.push(w);
    }
  }
}

/**
 * RFC 2883 §4: the first block is a D-SACK when it lies below the
 * cumulative ACK or inside the second block. Each one that covers a
 * retransmission of the latest recovery crosses it off; when none is left,
 * every retransmission was unnecessary (RFC 3708 §3) — the original
 * segments had only been reordered — and the reduction is undone. A
 * duplicate the network made of an original segment matches no
 * retransmission and counts for nothing.
 */
/** RFC 2883 §4: the first block is a D-SACK below the cumulative ACK or inside the second block. */
function isDsack(c: Connection, blocks: readonly { left: number; right: number }[]): boolean {
  const d = blocks[0];
  if (d === undefined) return false;
  const second = blocks[1];
  return seqLe(d.right, c.sndUna) || (second !== undefined && seqGe(d.left, second.left) && seqLe(d.right, second.right));
}

function checkDsack(c: Connection, blocks: readonly { left: number; right: number }[], now: number): void {
  const r = c.recovery;
  const u = r.undo!;
  const d = blocks[0]!;
  if (!isDsack(c, blocks) || !seqLt(d.left, d.right) || u.overflow) return;
  let crossed = 0;
  for (let i = u.lefts.length - 1; i >= 0; i--) {
    if (seqLe(d.left, u.lefts[i]!) && seqLe(u.rights[i]!, d.right)) {
      u.lefts.splice(i, 1);
      u.rights.splice(i, 1);
      crossed++;
    }
  }
  if (crossed === 0 || u.lefts.length > 0) return;
  r.undo = null;
  r.undos++;
  c.host.stats.recoveryUndos++;
  c.cc.undo(u.prior, now);
  if (r.phase !== 'none') {
    // Nothing was lost: leave recovery, and let a real loss start a new
    // one (its reduction is no longer the one just undone).
    leaveSackRecovery(r);
    r.recoveryPoint = c.sndUna;
  }
}

/**
 * RFC 6675 Update(). Blocks are believed only within what we sent and above
 * SND.UNA (RFC 2018 §4; a D-SACK block of RFC 2883 lies below and is
 * ignored, as is anything beyond SND.MAX). Returns the bytes newly SACKed.
 */
function updateScoreboard(c: Connection, blocks: readonly { left: number; right: number }[]): number {
  const r = c.recovery;
  const una = c.sndUna;
  let added = 0;
  // RFC 2018 §4: the first block holds the segment that triggered this ACK
  // (the second, after a D-SACK block). Only that one tells of a late
  // arrival; an older block seen for the first time may simply have been
  // in an ACK that was lost.
  const primary = isDsack(c, blocks) ? 1 : 0;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i]!;
    if (!seqLt(b.left, b.right) || seqLe(b.right, una) || seqGt(b.right, c.sndMax)) continue;
    const left = seqMax(b.left, una);
    const firstNew = r.scoreboard.firstUnsacked(left);
    const n = r.scoreboard.add(left, b.right);
    // New data SACKed below what was already SACKed: it arrived late.
    if (n > 0 && i === primary && seqLt(firstNew, r.highSackBefore)) noteReordering(c, firstNew);
    added += n;
  }
  return added;
}

/**
 * Bytes from `seq` were delivered below the highest SACKed byte without
 * having been retransmitted: the network reordered them, by as many
 * segments as were SACKed above. DupThresh grows past that degree so the
 * next such reordering is not taken for a loss (Linux
 * tcp_check_sack_reordering; RFC 4653 argues the same for any reordering
 * path). Bytes we retransmitted prove nothing: the retransmission may be
 * what arrived.
 */
function noteReordering(c: Connection, seq: number): void {
  const r = c.recovery;
  if (seqLt(seq, c.sndRtxEnd) || (seqGt(r.highRxt, r.unaBefore) && seqLt(seq, r.highRxt))) return;
  const smss = c.fullSegmentSize();
  const degree = Math.ceil(seqDiff(r.highSackBefore, seq) / smss);
  const wanted = Math.min(MAX_DUP_THRESH, degree + 1);
  if (wanted > r.dupThresh) {
    r.dupThresh = wanted;
    c.host.stats.reorderingDetected++;
  }
}

// ---- the retransmission timeout (timers.ts) -----------------------------------------

/**
 * RFC 5681 §3.1 (eq. 4 and the loss window), RFC 6582 §3.2 step 4 (recover
 * = the highest sequence number sent, recovery abandoned) and RFC 6675
 * §5.1 (SACK information dropped: the receiver may have reneged; no new
 * recovery before RecoveryPoint is acknowledged). A repeated timeout of the
 * same segment keeps ssthresh (as Linux's tcp_enter_loss): the first one
 * already measured the flight that failed.
 */
export function onRetransmitTimeout(c: Connection, now: number): void {
  const r = c.recovery;
  r.rtoTimeouts++;
  c.host.stats.rtoTimeouts++;
  if (c.retransmits <= 1) c.cc.onRetransmitTimeout(seqDiff(c.sndMax, c.sndUna), now);
  else c.cc.setWindow(c.fullSegmentSize(), now);
  r.phase = 'none';
  r.recoveryPoint = c.sndMax;
  r.dupAcks = 0;
  // Whatever the path's reordering, a timeout says DupThresh was too high
  // to detect this loss in time (Linux lowers tp->reordering likewise).
  r.dupThresh = DUP_THRESH;
  r.retransmitFirst = false;
  r.rescueRxt = null;
  r.scoreboard.clear();
  r.watched.length = 0;
  r.again.length = 0;
  // A timeout is not undone here (that would need F-RTO, RFC 5682).
  r.undo = null;
}

// ---- what may be sent (output.ts) -----------------------------------------------

/**
 * Bytes the congestion window allows beyond what is in flight now. In SACK
 * recovery that is cwnd - pipe (RFC 6675 §5 (C)); on the first two
 * duplicate ACKs, two more segments of new data (RFC 3042 limited
 * transmit); otherwise cwnd - FlightSize.
 */
export function congestionAllowance(c: Connection, inFlight: number): number {
  const r = c.recovery;
  const cwnd = c.cc.window();
  if (r.phase === 'sack') return cwnd - pipe(c);
  // Before recovery, SACKed bytes have left the network too (RFC 6675's
  // pipe, used as Linux does at all times): the ACK clock keeps running
  // while DupThresh is awaited, which matters once it was raised for a
  // reordering path.
  if (r.phase === 'none' && !r.scoreboard.isEmpty() && c.sndNxt === c.sndMax) return cwnd - pipe(c);
  if (r.phase === 'none' && r.dupAcks > 0 && r.dupAcks < r.dupThresh && c.sndNxt === c.sndMax) {
    return cwnd + r.dupAcks * c.fullSegmentSize() - inFlight;
  }
  return cwnd - inFlight;
}

/**
 * RFC 6675 IsLost() as a boundary: un-SACKed bytes below it are lost. A
 * "segment" for the byte count is a full-sized one as we send them.
 */
export function lostBoundary(c: Connection): number {
  return c.recovery.scoreboard.lostBoundary(c.sndUna, c.recovery.dupThresh, c.fullSegmentSize());
}

/**
 * RFC 6675 SetPipe(): un-SACKed bytes not presumed lost, plus those
 * retransmitted in this recovery (once more: the retransmission is in
 * flight too). Outside SACK recovery, the flight size.
 */
export function pipe(c: Connection): number {
  const r = c.recovery;
  const sb = r.scoreboard;
  const una = c.sndUna;
  if (r.phase !== 'sack') return Math.max(0, seqDiff(c.sndNxt, una) - sb.sackedIn(una, c.sndNxt));
  const max = c.sndMax;
  const lost = lostBoundary(c);
  let n = seqDiff(max, lost) - sb.sackedIn(lost, max);
  if (seqGt(r.highRxt, una)) n += seqDiff(r.highRxt, una) - sb.sackedIn(una, r.highRxt);
  return n;
}

/**
 * Called by output() before new data: the retransmission fast retransmit or
 * a partial ACK owes (sent whatever cwnd says, RFC 5681 §3.2 step 2), then
 * in SACK recovery NextSeg() rule 1 — every hole presumed lost, lowest
 * first, while cwnd - pipe allows a segment (RFC 6675 §5 (C)). New data,
 * NextSeg()'s rule 2, is output()'s own loop; rule 3 (retransmitting holes
 * not yet presumed lost) is a MAY we leave out, as Linux does, because
 * under reordering it only adds spurious retransmissions.
 */
export function sendRecoveryRetransmissions(c: Connection, now: number): void {
  const r = c.recovery;
  if (r.retransmitFirst) {
    r.retransmitFirst = false;
    const end = retransmitHole(c, c.sndUna, now);
    // RFC 6675 §5 (4.3): HighRxt and RescueRxt both at its end.
    if (r.phase === 'sack' && end !== undefined) {
      r.highRxt = seqMax(r.highRxt, end);
      r.rescueRxt = end;
    }
  }
  if (r.phase !== 'sack') return;
  const smss = c.fullSegmentSize();
  const sb = r.scoreboard;
  // Lost retransmissions first: they are the oldest holes.
  while (r.again.length > 0 && c.cc.window() - pipe(c) >= smss) {
    const w = r.again.shift()!;
    const left = seqMax(w.left, c.sndUna);
    if (!seqLt(left, w.right) || sb.sackedUntil(left) !== undefined) continue;
    if (retransmitRange(c, left, w.right, now)) {
      r.lostRetransmits++;
      c.host.stats.lostRetransmits++;
    }
  }
  // Bounded by the number of holes; each pass moves HighRxt forward.
  for (let guard = 0; guard <= sb.maxRanges; guard++) {
    if (c.cc.window() - pipe(c) < smss) return;
    // NextSeg() rule 1: the first un-SACKed byte above HighRxt, if lost.
    const s2 = sb.firstUnsacked(seqMax(r.highRxt, c.sndUna));
    if (!seqLt(s2, lostBoundary(c))) return;
    const end = retransmitHole(c, s2, now);
    if (end === undefined) return;
    r.highRxt = end;
  }
}

/**
 * Called by output() after new data: RFC 6675 NextSeg() rule 4, the rescue
 * retransmission. When no hole is presumed lost and no new data may go,
 * but cwnd still has room, retransmit the highest un-SACKed segment once
 * per recovery: a loss at the tail of the window has nothing above it to
 * be SACKed and would otherwise wait for the timeout.
 */
export function sendRescueRetransmission(c: Connection, now: number): void {
  const r = c.recovery;
  if (r.phase !== 'sack') return;
  if (r.rescueRxt !== null && !seqGt(c.sndUna, r.rescueRxt)) return;
  const smss = c.fullSegmentSize();
  if (c.cc.window() - pipe(c) < smss) return;
  const inFlight = seqDiff(c.sndNxt, c.sndUna);
  const unsent = c.unsentBytes();
  if (unsent > 0 && c.sndWnd - inFlight >= Math.min(unsent, smss)) return; // rule 2 could still send
  // The highest un-SACKed byte: just below the top range if it reaches
  // SND.MAX, otherwise the last byte sent.
  const sb = r.scoreboard;
  const top = sb.ranges().at(-1);
  const end = top !== undefined && top.right === c.sndMax ? top.left : c.sndMax;
  if (!seqGt(end, c.sndUna)) return;
  const below = sb.ranges().filter((x) => seqLe(x.right, end)).at(-1);
  const holeStart = below === undefined ? c.sndUna : seqMax(below.right, c.sndUna);
  const start = seqMax(holeStart, seqAdd(end, -smss));
  if (retransmitRange(c, start, end, now)) r.rescueRxt = r.recoveryPoint;
}

/**
 * During go-back-N after a timeout (SND.NXT rewound below SND.MAX): skip
 * what the receiver SACKed since the timeout — SACK information that is
 * fresh, unlike what the timeout discarded — and return how many bytes may
 * be sent before the next SACKed range (Infinity if none).
 */
export function skipSackedOnRewind(c: Connection): number {
  const sb = c.recovery.scoreboard;
  if (sb.isEmpty() || !seqLt(c.sndNxt, c.sndRtxEnd)) return Infinity;
  const until = sb.sackedUntil(c.sndNxt);
  if (until !== undefined) c.sndNxt = until;
  const next = sb.nextSackedAfter(c.sndNxt);
  return next === undefined ? Infinity : seqDiff(next, c.sndNxt);
}

/**
 * Retransmits up to one segment of the hole starting at `seq`: up to the
 * next SACKed range, SND.MAX or one SMSS, whichever comes first. Returns
 * the end of what was sent (undefined if nothing could be).
 */
function retransmitHole(c: Connection, seq: number, now: number): number | undefined {
  const next = c.recovery.scoreboard.nextSackedAfter(seq);
  let end = seqMin(seqAdd(seq, c.fullSegmentSize()), c.sndMax);
  if (next !== undefined) end = seqMin(end, next);
  // A FIN right behind the data takes no room in the segment: it goes too,
  // unless the receiver SACKed it.
  if (c.finSent && end === c.finSeq && (next === undefined || seqGt(next, c.finSeq))) end = seqAdd(c.finSeq, 1);
  return retransmitRange(c, seq, end, now) ? end : undefined;
}

/** Sends [seq, end) again (end may include the FIN's slot). False if there was nothing to send. */
function retransmitRange(c: Connection, seq: number, end: number, now: number): boolean {
  if (!c.canSendData() || !seqLt(seq, end) || seqLt(seq, c.sndUna)) return false;
  const dataEnd = seqAdd(c.sndUna, c.sndBuf.length);
  const len = Math.max(0, seqDiff(seqMin(end, dataEnd), seq));
  const fin = c.finSent && seqGt(end, c.finSeq);
  if (len === 0 && !fin) return false;
  const offset = seqDiff(seq, c.sndUna);
  const lastQueued = offset + len === c.sndBuf.length;
  const flags = ACK | (len > 0 && lastQueued ? PSH : 0) | (fin ? FIN : 0);
  const stats = c.host.stats;
  stats.retransmittedSegments++;
  stats.retransmittedBytes += len;
  c.totalRetransmits++;
  const r = c.recovery;
  r.retransmittedBytes += len;
  if (r.phase === 'sack' && r.watched.length < MAX_WATCHED_RETRANSMISSIONS) {
    r.watched.push({ left: seq, right: end, highData: c.sndMax });
  }
  const u = r.undo;
  if (u !== null && r.phase === 'sack' && len > 0) {
    if (u.lefts.length >= MAX_UNDO_RANGES) u.overflow = true;
    else {
      u.lefts.push(seq);
      u.rights.push(seqAdd(seq, len));
    }
  }
  // Karn (RFC 6298 §3): the timed segment lies above a hole we repair, so
  // its ACK waits for the repair and would not measure the path.
  if (c.rttTiming && seqLt(seq, c.rttSeq)) c.rttTiming = false;
  // The segment at SND.UNA is the one the timer watches: sent again, it
  // gets a whole RTO (Linux re-arms for the head likewise); anything else
  // only starts an idle timer (RFC 6298 §5.1).
  if (seq === c.sndUna) restartRetransmitTimer(c, now);
  else armRetransmitTimerIfIdle(c, now);
  // Timestamps and SACK blocks as on any segment (segment-options.ts).
  emit(c, flags, seq, offset, len, segmentOptions(c, now, len));
  return true;
}

// ---- getInfo ------------------------------------------------------------------------

export interface RecoveryInfo {
  congestionControl: string;
  recovery: RecoveryPhase;
  fastRetransmits: number;
  sackRecoveries: number;
  rtoTimeouts: number;
  sackedBytes: number;
  lostBytes: number;
  retransmittedBytes: number;
  bytesInFlight: number;
}

export function recoveryInfo(c: Connection): RecoveryInfo {
  const r = c.recovery;
  const sb = r.scoreboard;
  const closed = c.state === 'CLOSED';
  const lost = closed ? c.sndUna : lostBoundary(c);
  return {
    congestionControl: c.cc.name,
    recovery: r.phase,
    fastRetransmits: r.fastRetransmits,
    sackRecoveries: r.sackRecoveries,
    rtoTimeouts: r.rtoTimeouts,
    sackedBytes: sb.sackedBytes,
    lostBytes: closed ? 0 : seqDiff(lost, c.sndUna) - sb.sackedIn(c.sndUna, lost),
    retransmittedBytes: r.retransmittedBytes,
    bytesInFlight: closed ? 0 : pipe(c),
  };
}
