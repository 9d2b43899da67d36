/**
 * SEGMENT ARRIVES (RFC 9293 §3.10.7), in the RFC's order, for a segment that
 * belongs to an existing TCB. LISTEN and CLOSED (§3.10.7.1-2) are handled by
 * the stack itself (tcp.ts), since there is no TCB to speak of.
 *
 * For the synchronized states and SYN-RECEIVED (§3.10.7.4):
 *   first   check sequence number (the four cases), trim to the window
 *   second  check the RST bit
 *   third   security (IP security options: not implemented, as in most stacks)
 *   fourth  check the SYN bit
 *   fifth   check the ACK field
 *   sixth   check the URG bit (ignored: urgent data is plain data here, RFC 6093)
 *   seventh process the segment text
 *   eighth  check the FIN bit
 */
import { StackError } from '../errors.ts';
import type { Connection } from './connection.ts';
import { afterAck, beforeAck } from './loss-recovery.ts';
import { armFinWait2Timer, dataAfterClose } from './orphan.ts';
import { output, replyReset, sendSyn } from './output.ts';
import { ackTooOld, rstNeedsChallenge, sendChallengeAck } from './rfc5961.ts';
import { recordDuplicate } from './sack-blocks.ts';
import { readArrivalOptions } from './segment-options.ts';
import type { TcpView } from './segment.ts';
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqLe, seqLt, seqMax } from './seq.ts';
import {
  armDelayedAck,
  armTimeWaitTimer,
  restartKeepAliveTimer,
  restartRetransmitTimer,
  stopRetransmitTimer,
} from './timers.ts';
import { negotiateSynOptions } from './syn-options.ts';
import { pawsRejects, timestampRttSample, updateTsRecent } from './timestamps.ts';
import { peerWindow } from './window-scale.ts';

/** The fields of an arriving segment that trimming may change. */
interface Incoming {
  /** SEG.SEQ after trimming. */
  seq: number;
  /** SEG.SEQ as it arrived (the SND.WL1 rule uses it). */
  origSeq: number;
  ack: number;
  window: number;
  syn: boolean;
  fin: boolean;
  rst: boolean;
  hasAck: boolean;
  psh: boolean;
  payload: Uint8Array;
  /** A super-packet's segment size (GRO, src/link/offload.ts), else 0. */
  segmentSize: number;
}

/** The payload of an Incoming not in use: no reference to a segment's bytes outlives it. */
const NO_PAYLOAD = new Uint8Array(0);

/** Fills an Incoming from the segment: the one place that maps TcpView to Incoming (fresh or reused). */
function fillIncoming(inc: Incoming, seg: TcpView): void {
  inc.seq = seg.seq;
  inc.origSeq = seg.seq;
  inc.ack = seg.ack;
  inc.window = seg.window;
  inc.syn = seg.syn;
  inc.fin = seg.fin;
  inc.rst = seg.rst;
  inc.hasAck = seg.hasAck;
  inc.psh = seg.psh;
  inc.payload = seg.payload;
  inc.segmentSize = seg.segmentSize;
}

function incoming(seg: TcpView): Incoming {
  const inc: Incoming = {
    seq: 0,
    origSeq: 0,
    ack: 0,
    window: 0,
    syn: false,
    fin: false,
    rst: false,
    hasAck: false,
    psh: false,
    payload: NO_PAYLOAD,
    segmentSize: 0,
  };
  fillIncoming(inc, seg);
  return inc;
}

export function segmentArrives(c: Connection, seg: TcpView, now: number): void {
  switch (c.state) {
    case 'CLOSED':
    case 'LISTEN':
      return;
    case 'SYN-SENT':
      synSentArrives(c, seg, now);
      return;
    default:
      synchronizedArrives(c, seg, now);
  }
}

// ---- RFC 9293 §3.10.7.3: SYN-SENT -------------------------------------------

function synSentArrives(c: Connection, seg: TcpView, now: number): void {
  const stats = c.host.stats;
  // First, check the ACK bit: it must acknowledge our SYN and nothing more.
  if (seg.hasAck && (seqLe(seg.ack, c.iss) || seqGt(seg.ack, c.sndMax))) {
    if (!seg.rst) replyReset(c, seg);
    return;
  }
  // Second, the RST bit: believed only when it acknowledges our SYN
  // (RFC 5961 §3.2 keeps this rule for SYN-SENT).
  if (seg.rst) {
    stats.rstsReceived++;
    if (!seg.hasAck) stats.rstsIgnored++;
    if (seg.hasAck) {
      stats.rstsAccepted++;
      stats.connectionsReset++;
      c.terminate(new StackError('ECONNREFUSED', 'connection refused', 'connect'));
    }
    return;
  }
  // Fourth, the SYN bit. (Fifth: with neither SYN nor RST, drop.)
  if (!seg.syn) return;
  c.irs = seg.seq;
  c.rcvNxt = seqAdd(seg.seq, 1);
  c.rcvAdv = seqAdd(c.rcvNxt, c.synWindow()); // the window our SYN offered
  const peerOptions = seg.options();
  c.applyPeerMss(peerOptions.mss);
  // Window scaling, timestamps, SACK: in use if this SYN carries them too.
  negotiateSynOptions(c, peerOptions, now);
  if (seg.hasAck) {
    ackOurSyn(c, seg.ack, now);
    updateSendWindow(c, seg.window, seg.seq, seg.ack, true);
    c.becomeEstablished(now);
    c.ackNow = true;
    // Data or a FIN riding on the SYN-ACK: continue at the sixth step.
    const inc = incoming(seg);
    inc.syn = false;
    inc.seq = c.rcvNxt;
    trimToWindow(c, inc);
    textAndFin(c, inc, now);
    output(c, now);
    return;
  }
  // Simultaneous open (RFC 9293 §3.5, figure 7): answer with SYN-ACK on our ISS.
  // Text in the SYN is not kept (no TCP Fast Open); the peer will resend it.
  c.state = 'SYN-RECEIVED';
  sendSyn(c, now);
}

// ---- RFC 9293 §3.10.7.4: SYN-RECEIVED and the synchronized states ---------------

/**
 * One Incoming reused for the segments of the synchronized states (most of
 * them): an object per segment was a steady share of the short-connection
 * garbage. Taken while in use, so a nested arrival (none is expected: the
 * core is not re-entrant) gets a fresh one instead of clobbering it.
 */
let spareIncoming: Incoming | null = null;

function synchronizedArrives(c: Connection, seg: TcpView, now: number): void {
  const inc = spareIncoming ?? incoming(seg);
  if (inc === spareIncoming) {
    spareIncoming = null;
    fillIncoming(inc, seg);
  }
  try {
    arrivesWith(c, seg, inc, now);
  } finally {
    // No reference to the segment's bytes outlives it.
    inc.payload = NO_PAYLOAD;
    spareIncoming = inc;
  }
}

function arrivesWith(c: Connection, seg: TcpView, inc: Incoming, now: number): void {
  const stats = c.host.stats;
  // Timestamps and SACK blocks, if negotiated (segment-options.ts).
  readArrivalOptions(c, seg);

  if (c.state === 'SYN-RECEIVED' && inc.syn && !inc.rst && inc.seq === c.irs) {
    if (!inc.hasAck) {
      // The peer's SYN again: our SYN-ACK was lost. Answer it at once rather
      // than with the bare ACK the sequence test would produce (as Linux).
      sendSyn(c, now, true);
      return;
    }
    if (!c.passive && inc.ack === c.sndMax) {
      // Simultaneous open: the peer's SYN-ACK repeats the SYN we already hold
      // and acknowledges ours. Its SYN is not new: treat it as the ACK.
      inc.syn = false;
      inc.seq = seqAdd(inc.seq, 1);
    }
  }

  // RFC 7323 §5.3 R1: PAWS drops an old duplicate (and ACKs) before the window test.
  if (pawsRejects(c, inc, now)) {
    output(c, now);
    return;
  }

  // First: is the segment acceptable?
  if (!acceptable(c, inc)) {
    stats.unacceptableSegments++;
    if (inc.rst) {
      stats.rstsIgnored++; // RFC 5961 §3.2 (1): silently dropped
    } else if (inc.syn && c.state !== 'SYN-RECEIVED') {
      // RFC 5961 §4.2: a SYN gets a challenge ACK whatever its sequence number.
      sendChallengeAck(c, now);
    } else {
      // TIME-WAIT: "the only thing that can arrive in this state is a
      // retransmission of the remote FIN. Acknowledge it, and restart the
      // 2 MSL timeout." (It fails the sequence test, being old.)
      if (c.state === 'TIME-WAIT' && inc.fin) armTimeWaitTimer(c, now);
      recordDuplicate(c, inc.seq, inc.payload.length);
      if (outOfWindowAckLimited(c, inc, now)) {
        stats.outOfWindowAcksSkipped++;
        return;
      }
      c.ackNow = true;
      output(c, now);
    }
    return;
  }
  restartKeepAliveTimer(c, now);

  // Second: RST, believed only at exactly RCV.NXT (RFC 5961 §3.2).
  if (inc.rst) {
    if (rstNeedsChallenge(c, inc.origSeq)) {
      stats.rstsIgnored++;
      sendChallengeAck(c, now);
      return;
    }
    resetArrives(c);
    return;
  }

  // Fourth: SYN. Checked on the segment as it arrived, before trimming:
  // trimming a SYN at RCV.NXT-1 would strip the SYN bit and let its text in,
  // while RFC 9293 (and RFC 5961 §4.2) asks for a challenge ACK "irrespective
  // of the sequence number", and the segment is dropped.
  if (inc.syn) {
    if (c.state === 'SYN-RECEIVED' && c.passive) {
      // "Return this connection to the LISTEN state": the half-open entry goes.
      c.release();
      return;
    }
    challengeAck(c, now);
    return;
  }
  // The rest of the first step: keep only the part inside the window.
  trimToWindow(c, inc);

  // RFC 7323 §4.3 (R3 of §5.3): the segment passed the window test.
  updateTsRecent(c, inc.origSeq, now);

  // Fifth: ACK.
  if (!inc.hasAck) return;
  if (!ackArrives(c, inc, seg, now)) {
    output(c, now);
    return;
  }

  // Sixth (URG) is ignored; seventh and eighth. New text for a connection
  // the application closed resets it (RFC 1122 §4.2.2.13, orphan.ts).
  if (c.detached && inc.payload.length > 0 && c.canReceiveData()) {
    dataAfterClose(c);
    return;
  }
  textAndFin(c, inc, now);
  output(c, now);
}

/**
 * The four cases of the acceptability test (RFC 9293 §3.10.7.4, first). With
 * a zero window the RFC asks for "special allowance ... to accept valid ACKs,
 * URGs, and RSTs": a segment starting exactly at RCV.NXT is let through and
 * its text trimmed away (what Linux does too), so that a peer's ACKs and
 * window updates are not lost while our application is not reading.
 */
function acceptable(c: Connection, inc: Incoming): boolean {
  const len = inc.payload.length + (inc.syn ? 1 : 0) + (inc.fin ? 1 : 0);
  const wnd = c.rcvWnd();
  const nxt = c.rcvNxt;
  if (wnd === 0) return inc.seq === nxt;
  const end = seqAdd(nxt, wnd);
  if (len === 0) return seqInRange(inc.seq, nxt, end);
  return seqInRange(inc.seq, nxt, end) || seqInRange(seqAdd(inc.seq, len - 1), nxt, end);
}

/**
 * The duplicate ACK for an unacceptable segment, at most one per
 * `invalidRateLimitMs` per connection (Linux tcp_invalid_ratelimit, 500 ms):
 * two endpoints that disagree about sequence numbers (or an attacker who
 * feeds one of them) would otherwise ACK each other's ACKs without end. As in
 * Linux (tcp_oow_rate_limited), only segments that occupy no sequence space
 * are limited: a retransmission of old text or of a FIN (TIME-WAIT) is not
 * part of an ACK loop and its sender needs the answer. A keepalive probe
 * (RCV.NXT-1, no text; the zero-window probe of stacks that probe the same
 * way) MUST be answered (RFC 1122 §4.2.3.6) and is never limited either.
 */
function outOfWindowAckLimited(c: Connection, inc: Incoming, now: number): boolean {
  if (inc.payload.length > 0 || inc.fin) return false;
  if (inc.seq === seqAdd(c.rcvNxt, -1)) return false;
  if (now - c.lastOutOfWindowAck < c.host.config.invalidRateLimitMs) return true;
  c.lastOutOfWindowAck = now;
  return false;
}

/**
 * Keeps only the part of the segment inside the window. Text before RCV.NXT
 * is a duplicate (our ACK was probably lost) and text past the window was
 * sent too early: both get an immediate ACK. A FIN survives only if all the
 * text before it does.
 */
function trimToWindow(c: Connection, inc: Incoming): void {
  let before = seqDiff(c.rcvNxt, inc.seq);
  if (before > 0) {
    if (inc.syn) {
      inc.syn = false;
      inc.seq = seqAdd(inc.seq, 1);
      before--;
    }
    if (before > 0) {
      const cut = Math.min(before, inc.payload.length);
      recordDuplicate(c, inc.seq, cut); // RFC 2883 D-SACK
      inc.payload = inc.payload.subarray(cut);
      inc.seq = seqAdd(inc.seq, cut);
      if (cut > 0) c.ackNow = true;
    }
  }
  const room = c.rcvWnd() - seqDiff(inc.seq, c.rcvNxt);
  if (inc.payload.length > room) {
    inc.payload = inc.payload.subarray(0, Math.max(0, room));
    inc.fin = false;
    c.ackNow = true;
  }
}

function resetArrives(c: Connection): void {
  const stats = c.host.stats;
  stats.rstsReceived++;
  // The caller checked RFC 5961 §3.2: SEG.SEQ = RCV.NXT exactly.
  stats.rstsAccepted++;
  switch (c.state) {
    case 'SYN-RECEIVED':
      if (c.passive) {
        // Back to LISTEN: the half-open entry is freed, the listener stays.
        c.release();
        return;
      }
      stats.connectionsReset++;
      c.terminate(new StackError('ECONNREFUSED', 'connection refused', 'connect'));
      return;
    case 'TIME-WAIT':
      // RFC 9293: delete the TCB. (RFC 1337 would ignore it; Linux by
      // default does as the RFC says.)
      c.release();
      return;
    default:
      stats.connectionsReset++;
      c.terminate(new StackError('ECONNRESET', 'connection reset by peer', 'read'));
  }
}

/**
 * RFC 5961 §4: a SYN in a synchronized state gets an ACK (the "challenge
 * ACK"): a genuine peer that restarted answers it with an RST carrying the
 * exact sequence number; a blind attacker learns nothing. Rate-limited
 * (RFC 5961 §7, rfc5961.ts).
 */
function challengeAck(c: Connection, now: number): void {
  sendChallengeAck(c, now);
}

/** Returns false when processing of the segment stops here. */
function ackArrives(c: Connection, inc: Incoming, seg: TcpView, now: number): boolean {
  const stats = c.host.stats;
  const ack = inc.ack;

  if (c.state === 'SYN-RECEIVED') {
    if (!(seqLt(c.sndUna, ack) && seqLe(ack, c.sndMax))) {
      replyReset(c, seg);
      return false;
    }
    const listener = c.listener;
    if (listener !== null && !listener.hasRoomInAcceptQueue()) {
      // Linux's behaviour: drop the final ACK and stay in SYN-RECEIVED. The
      // client thinks it is connected; our SYN-ACK retransmission makes it
      // ACK again, by which time the application may have called accept().
      listener.recordAcceptQueueOverflow();
      stats.acceptQueueOverflows++;
      return false;
    }
    ackOurSyn(c, ack, now);
    updateSendWindow(c, inc.window, inc.origSeq, ack, seg.syn);
    c.becomeEstablished(now);
    if (listener !== null) listener.admit(c);
  }

  // An ACK for something not yet sent: ACK, drop, return. The limit is
  // SND.MAX (not a rewound SND.NXT), plus an outstanding zero-window probe byte.
  const limit = c.probeOutstanding ? seqAdd(c.sndMax, 1) : c.sndMax;
  if (seqGt(ack, limit)) {
    c.ackNow = true;
    return false;
  }
  // RFC 5961 §5.2: an ACK older than SND.UNA - MAX.SND.WND is a blind
  // injection, not a late duplicate: drop the segment, challenge ACK.
  if (ackTooOld(c, ack)) {
    stats.oldAcksDropped++;
    sendChallengeAck(c, now);
    return false;
  }
  c.ackedSinceTimeout = true;
  c.persistProbesUnanswered = 0;
  beforeAck(c, seg);
  if (seqGt(ack, c.sndUna)) newDataAcked(c, ack, now);
  // Duplicate ACKs, SACK, fast retransmit and recovery, window growth.
  afterAck(c, seg, now);

  // Window update: only from a segment newer than the one that last set it.
  if (seqLe(c.sndUna, ack) && (seqLt(c.sndWl1, inc.origSeq) || (c.sndWl1 === inc.origSeq && seqLe(c.sndWl2, ack)))) {
    updateSendWindow(c, inc.window, inc.origSeq, ack);
  }

  switch (c.state) {
    case 'FIN-WAIT-1':
      if (ourFinAcked(c)) {
        c.state = 'FIN-WAIT-2';
        armFinWait2Timer(c, now); // orphans only (orphan.ts)
      }
      return true;
    case 'CLOSING':
      if (ourFinAcked(c)) c.enterTimeWait(now);
      return false;
    case 'LAST-ACK':
      if (ourFinAcked(c)) c.terminate(null);
      return false;
    default:
      return true;
  }
}

function ourFinAcked(c: Connection): boolean {
  return c.finSent && seqGt(c.sndUna, c.finSeq);
}

/** Our SYN is acknowledged (the handshake's ACK, in SYN-SENT or SYN-RECEIVED). */
function ackOurSyn(c: Connection, ack: number, now: number): void {
  c.sndUna = ack;
  if (seqLt(c.sndNxt, ack)) c.sndNxt = ack;
  c.sndRtxEnd = ack;
  if (c.rttTiming && seqGe(ack, c.rttSeq)) {
    c.rtt.sample(now - c.rttStart);
    c.rttTiming = false;
  }
  stopRetransmitTimer(c);
  c.ackedSinceTimeout = true;
}

/** `syn`: the segment is a SYN, whose window is never scaled (RFC 7323 §2.2). */
function updateSendWindow(c: Connection, window: number, seq: number, ack: number, syn = false): void {
  c.sndWnd = peerWindow(c, window, syn);
  c.sndWl1 = seq;
  c.sndWl2 = ack;
  if (c.sndWnd > c.maxSndWnd) c.maxSndWnd = c.sndWnd;
}

/** SND.UNA < SEG.ACK <= SND.MAX: new data (and maybe our FIN) acknowledged. */
function newDataAcked(c: Connection, ack: number, now: number): void {
  let acked = seqDiff(ack, c.sndUna);
  if (c.finSent && seqGt(ack, c.finSeq)) acked -= 1; // the FIN's sequence slot holds no byte
  const dataAcked = c.sndBuf.discard(acked);
  c.sndUna = ack;
  if (seqLt(c.sndNxt, ack)) c.sndNxt = ack;
  // Markers left behind SND.UNA would, 2^31 bytes later, compare as ahead
  // of it (sequence order holds only within half the number space, RFC
  // 9293 §3.4): a stale end of retransmission turned every new segment of a
  // long transfer into a "retransmission". Behind SND.UNA they mean
  // nothing, so they follow it.
  if (seqLt(c.sndRtxEnd, ack)) c.sndRtxEnd = ack;
  const r = c.recovery;
  if (seqLt(r.recoveryPoint, ack)) r.recoveryPoint = ack;
  if (seqLt(r.highRxt, ack)) r.highRxt = ack;
  c.sndMax = seqMax(c.sndMax, ack); // a zero-window probe byte was taken
  c.probeOutstanding = false;
  // RFC 7323 §4.1 RTTM: with timestamps every such ACK is a sample.
  if (timestampRttSample(c, now)) c.rttTiming = false;
  if (c.rttTiming && seqGe(ack, c.rttSeq)) {
    c.rtt.sample(now - c.rttStart);
    c.rttTiming = false;
  }
  c.retransmits = 0;
  // RFC 6298 §5.2-5.3.
  if (c.sndUna === c.sndMax) stopRetransmitTimer(c);
  else restartRetransmitTimer(c, now);
  if (dataAcked > 0) c.markWritable();
}

/** Seventh (text) and eighth (FIN) steps. */
function textAndFin(c: Connection, inc: Incoming, now: number): void {
  let storedAll = true;
  if (c.oooFinSeq !== null) {
    // The peer's FIN is already known beyond a gap: no text can follow it.
    // Text running past it is cut there (and a FIN later than it ignored),
    // so that once the gap fills RCV.NXT lands on the FIN, not beyond it.
    const room = seqDiff(c.oooFinSeq, inc.seq);
    if (inc.payload.length > room) {
      inc.payload = inc.payload.subarray(0, Math.max(0, room));
      inc.fin = false;
      c.ackNow = true;
    }
  }
  // In CLOSE-WAIT, CLOSING, LAST-ACK and TIME-WAIT the peer has sent its FIN:
  // text "should not occur" and is ignored.
  if (inc.payload.length > 0 && c.canReceiveData()) storedAll = receiveText(c, inc.seq, inc.payload, inc.psh, inc.segmentSize, now);
  if (inc.fin && !c.finReceived) {
    const finSeq = seqAdd(inc.seq, inc.payload.length);
    if (finSeq === c.rcvNxt) {
      finArrives(c, now);
    } else if (storedAll && seqGt(finSeq, c.rcvNxt)) {
      // Beyond a gap: remember it, as Linux keeps a FIN in its out-of-order queue.
      c.oooFinSeq = finSeq;
      c.ackNow = true;
    }
  }
  if (c.oooFinSeq !== null && c.oooFinSeq === c.rcvNxt) {
    c.oooFinSeq = null;
    finArrives(c, now);
  }
}

/**
 * Places text in the receive ring, one copy, whatever its order: in-order text
 * is appended, out-of-order text is written into the ring's free space at its
 * offset and recorded in the assembler until the gap before it fills.
 * Returns false if the text could not all be kept.
 */
function receiveText(c: Connection, seq: number, payload: Uint8Array, psh: boolean, segmentSize: number, now: number): boolean {
  const offset = seqDiff(seq, c.rcvNxt);
  const hadOutOfOrder = !c.assembler.isEmpty();
  // A super-packet stands for segments of `segmentSize` (Linux measures
  // rcv_mss from gso_size the same way): its length is no segment size.
  const segment = segmentSize > 0 ? segmentSize : payload.length;
  if (segment > c.rcvMss) c.rcvMss = Math.min(segment, c.advMss);
  let advanced: number;
  let stored: number;
  if (offset === 0 && !hadOutOfOrder) {
    advanced = c.rcvBuf.write(payload);
    stored = advanced;
  } else {
    stored = c.rcvBuf.writeUnallocated(offset, payload);
    if (!c.assembler.add(offset, stored)) {
      // Too fragmented: drop it (bounded out-of-order state); the ACK for
      // RCV.NXT tells the peer what we still miss.
      c.host.stats.oooDropped++;
      c.ackNow = true;
      return false;
    }
    advanced = c.assembler.removeFront();
    if (advanced > 0) c.rcvBuf.enqueueUnallocated(advanced);
    // RFC 9293 §3.8.6.3 and RFC 5681 §4.2: ACK at once when text arrives out
    // of order (the duplicate ACK drives fast retransmit) and when it fills
    // all or part of a gap (so the sender learns about it quickly).
    c.ackNow = true;
  }
  if (advanced > 0) {
    c.rcvNxt = seqAdd(c.rcvNxt, advanced);
    c.bytesReceived += advanced;
    c.rcvUnacked += advanced;
    c.markReadable();
    c.rcvPushed = psh && offset === 0;
    c.lastDataReceived = now;
    // RFC 9293 §3.8.6.3: ACK at least every second full-sized segment,
    // otherwise within the delayed-ACK timeout.
    if (c.rcvUnacked >= 2 * c.rcvMss) c.ackNow = true;
    else if (!c.ackNow) armDelayedAck(c, now);
  }
  return stored === payload.length;
}

/** The peer's FIN, with every byte before it received. */
function finArrives(c: Connection, now: number): void {
  c.finReceived = true;
  c.rcvNxt = seqAdd(c.rcvNxt, 1);
  c.rcvAdv = seqMax(c.rcvAdv, c.rcvNxt);
  c.ackNow = true;
  c.markEnd();
  switch (c.state) {
    case 'SYN-RECEIVED':
    case 'ESTABLISHED':
      c.state = 'CLOSE-WAIT';
      break;
    case 'FIN-WAIT-1':
      // Our FIN is not acknowledged yet (the ACK step would have moved us to
      // FIN-WAIT-2): simultaneous close.
      c.state = 'CLOSING';
      break;
    case 'FIN-WAIT-2':
      c.enterTimeWait(now);
      break;
    default:
      break;
  }
}
