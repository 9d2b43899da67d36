/**
 * What to send now (RFC 9293 §3.8.6 and §3.7.4): data within the peer's
 * window and the congestion window, held back by Nagle's algorithm, sender
 * silly-window avoidance and TCP_CORK; the FIN after the last byte; ACKs and
 * window updates. Also the special segments (SYN, SYN-ACK, RST, probes) and
 * the receive window we advertise, with receiver silly-window avoidance.
 *
 * Every segment we send in a synchronized state carries ACK = RCV.NXT and the
 * current window, so any transmission doubles as the (delayed) ACK.
 */
import type { Ipv4Address } from '../ip/address.ts';
import { type Connection, DEFAULT_MSS } from './connection.ts';
import { ACK, FIN, PSH, RST, SYN } from './flags.ts';
import type { TcpOptions } from './options.ts';
import type { TcpView } from './segment.ts';
import { buildTcpPacket } from './segment.ts';
import { congestionAllowance, sendRecoveryRetransmissions, sendRescueRetransmission, skipSackedOnRewind } from './loss-recovery.ts';
import { segmentOptions } from './segment-options.ts';
import { seqAdd, seqDiff, seqGt, seqLt } from './seq.ts';
import { synOptions } from './syn-options.ts';
import { armPersistTimer, armRetransmitTimerIfIdle, stopPersistTimer } from './timers.ts';
import { windowField } from './window-scale.ts';
import { OFFLOAD_CSUM_PARTIAL } from '../link/offload.ts';

/** The largest value of the 16-bit window field. */
export const MAX_WINDOW = 65535;

/** Our IPv4 header (no options) and the largest TCP header: what a super-packet's payload must leave room for. */
const MAX_HEADERS = 20 + 60;

/**
 * Sends every segment the windows, Nagle, cork and SWS avoidance allow, then
 * a pure ACK if one is owed and nothing carried it. `force` lets the first
 * segment skip the holding rules (Nagle, SWS, cork) and, into a zero window,
 * send one byte: the retransmission timeout (RFC 9293 §3.8.6.1: keep
 * retransmitting into a zero window) and the persist override timeout (RFC
 * 9293 §3.8.6.2.1 (4)) use it.
 */
export function output(c: Connection, now: number, force = false): void {
  const s = c.state;
  if (s === 'CLOSED' || s === 'LISTEN' || s === 'SYN-SENT') return;
  if (c.canSendData()) {
    let forceNext = force;
    // Loss recovery first (RFC 6675 NextSeg() puts holes before new data).
    sendRecoveryRetransmissions(c, now);
    while (sendNextSegment(c, now, forceNext)) forceNext = false;
    sendRescueRetransmission(c, now);
    c.pushPending = false;
    updatePersistTimer(c, now);
  }
  // Within a batch of input the host may take the pure ACK to send once, at
  // the end of the batch (Tcp.beginBatch); ackNow stays set until then.
  if (c.ackNow && c.host.deferAck?.(c) !== true) sendAck(c, now);
}

function sendNextSegment(c: Connection, now: number, force: boolean): boolean {
  // After the FIN nothing follows; after an RTO rewind SND.NXT is back below it.
  if (c.finSent && seqGt(c.sndNxt, c.finSeq)) return false;
  const sackGap = skipSackedOnRewind(c);
  const inFlight = seqDiff(c.sndNxt, c.sndUna);
  const unsent = c.sndBuf.length - inFlight;
  if (unsent < 0) return false;
  let usable = Math.min(c.sndWnd - inFlight, congestionAllowance(c, inFlight));
  // Into a zero window the forced segment is a one-byte probe.
  if (force && inFlight === 0 && usable < 1) usable = 1;
  const mss = c.fullSegmentSize();
  const len = Math.max(0, Math.min(unsent, mss, usable, sackGap));
  // The FIN goes with the segment carrying the last byte. It needs no window:
  // it occupies no buffer at the receiver, and both Linux and our own
  // receiver accept a bare FIN at the edge of a closed window.
  const fin = c.finQueued && len === unsent;
  if (len === 0 && !fin) return false;
  const retransmission = seqLt(c.sndNxt, c.sndRtxEnd);
  if (len === mss && !retransmission && c.host.offloadMaxSize > 0) {
    // Segmentation offload: every full segment the windows allow now leaves
    // as one super-packet that the kernel cuts into `mss`-sized segments
    // (TSO). The wire sees exactly what the loop below would have sent one
    // by one; retransmissions stay single segments.
    const room = Math.min(unsent, usable, sackGap, c.host.offloadMaxSize - MAX_HEADERS);
    const run = room - (room % mss);
    if (run > mss) {
      const runFin = c.finQueued && run === unsent;
      sendData(c, run, runFin, now, false, mss);
      return true;
    }
  }
  if (len > 0 && len < mss && !fin && !force && !retransmission) {
    // TCP_CORK (Linux): partial segments wait until uncorked or full.
    if (c.cork) return false;
    if (len < unsent) {
      // Limited by the window: sender SWS avoidance (RFC 9293 §3.8.6.2.1):
      // send a partial segment only if it is at least half the largest
      // window the peer ever offered, and (Nagle) nothing is in flight.
      if (len < c.maxSndWnd / 2 || (!c.noDelay && inFlight > 0)) return false;
    } else if (!c.noDelay && !c.pushPending && inFlight > 0) {
      // Nagle (RFC 9293 §3.7.4, RFC 896): one small segment in flight at
      // most. Uncorking pushes the tail out once regardless.
      return false;
    }
  }
  sendData(c, len, fin, now, retransmission, 0);
  return true;
}

/** `segmentSize` > 0: `len` bytes leave as one super-packet of segments that size. */
function sendData(c: Connection, len: number, fin: boolean, now: number, retransmission: boolean, segmentSize: number): void {
  const seq = c.sndNxt;
  const offset = seqDiff(seq, c.sndUna);
  const lastQueued = offset + len === c.sndBuf.length;
  const flags = ACK | (len > 0 && lastQueued ? PSH : 0) | (fin ? FIN : 0);
  c.sndNxt = seqAdd(seq, len + (fin ? 1 : 0));
  if (fin) {
    c.finSent = true;
    c.finSeq = seqAdd(seq, len);
  }
  if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
  c.probeOutstanding = false;
  // Data sent within the delayed-ACK time of data received: a request/response
  // exchange (Linux enters "pingpong" mode on the same test).
  if (len > 0 && now - c.lastDataReceived < c.host.config.delAckMs) c.interactive = true;
  if (retransmission) {
    c.host.stats.retransmittedSegments++;
    c.host.stats.retransmittedBytes += len;
    c.recovery.retransmittedBytes += len;
    c.totalRetransmits++;
  } else if (!c.rttTiming) {
    // One segment timed at a time (RFC 6298 §3 with Karn's rule: never one
    // sent twice, see the RTO handler which stops the timing).
    c.rttTiming = true;
    c.rttSeq = c.sndNxt;
    c.rttStart = now;
  }
  armRetransmitTimerIfIdle(c, now);
  stopPersistTimer(c);
  emit(c, flags, seq, offset, len, segmentOptions(c, now, len), advertisedWindow(c), segmentSize);
}

/**
 * The persist timer runs exactly while data waits, nothing is in flight (so
 * no retransmission timer will provoke an ACK) and the peer's window is what
 * keeps us from sending.
 */
function updatePersistTimer(c: Connection, now: number): void {
  if (c.persistConditionHolds()) {
    armPersistTimer(c, now);
  } else {
    stopPersistTimer(c);
    c.persistInterval = 0;
  }
}

/** SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), first transmission or again. */
export function sendSyn(c: Connection, now: number, retransmission = c.retransmits > 0): void {
  const synAck = c.state === 'SYN-RECEIVED';
  c.sndNxt = seqAdd(c.iss, 1);
  if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
  if (retransmission) {
    c.synRetransmitted = true;
    c.host.stats.retransmittedSegments++;
    c.totalRetransmits++;
    c.rttTiming = false;
  } else {
    c.rttTiming = true;
    c.rttSeq = c.sndNxt;
    c.rttStart = now;
  }
  // RFC 7323 §2.2: the window in a SYN is never scaled (emit sends it as
  // is, at most 65535). In SYN-SENT we do not know RCV.NXT yet, so the right
  // edge is recorded when the SYN-ACK arrives (Connection.synWindow).
  const window = synAck ? advertisedWindow(c) : c.synWindow();
  const options = synOptions(c, now);
  armRetransmitTimerIfIdle(c, now);
  emit(c, SYN | (synAck ? ACK : 0), c.iss, 0, 0, options, window);
}

/**
 * A pure ACK. Its sequence number is SND.MAX, not a rewound SND.NXT: a
 * receiver (Linux among them) discards a segment whose sequence number lies
 * entirely below what it has already received, and with it our window update.
 */
export function sendAck(c: Connection, now: number): void {
  emit(c, ACK, c.sndMax, 0, 0, segmentOptions(c, now, 0));
}

/** <SEQ=SND.MAX><CTL=RST> (RFC 9293 §3.10.5 ABORT; SND.MAX for the reason given at sendAck). */
export function sendReset(c: Connection): void {
  c.host.stats.rstsSent++;
  emit(c, RST, c.sndMax, 0, 0, undefined, 0);
}

/** RFC 9293 §3.8.6.1: one byte of new data beyond the zero window; SND.NXT does not move. */
export function sendZeroWindowProbe(c: Connection, now: number): void {
  c.host.stats.zeroWindowProbes++;
  c.probeOutstanding = true;
  emit(c, ACK, c.sndNxt, seqDiff(c.sndNxt, c.sndUna), 1, segmentOptions(c, now, 1));
}

/** RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT - 1, no data: the peer must answer with an ACK. */
export function sendKeepAliveProbe(c: Connection, now: number): void {
  emit(c, ACK, seqAdd(c.sndNxt, -1), 0, 0, segmentOptions(c, now, 0));
}

/**
 * Builds and sends one segment. `options`: synOptions() for a SYN,
 * segmentOptions() for any other segment but an RST (timestamps and SACK
 * blocks once negotiated, RFC 7323 §3.2).
 */
export function emit(
  c: Connection,
  flags: number,
  seq: number,
  payloadOffset: number,
  len: number,
  options?: TcpOptions,
  window: number = advertisedWindow(c),
  segmentSize = 0,
): void {
  const ring = c.sndBuf;
  // With checksum offload the kernel finishes the checksum of every segment
  // with text (and must, for a super-packet): we skip summing the payload.
  const partial = len > 0 && c.host.offloadMaxSize > 0;
  const packet = buildTcpPacket(
    { src: c.localAddress, dst: c.remoteAddress },
    {
      srcPort: c.localPort,
      dstPort: c.remotePort,
      seq,
      ack: (flags & ACK) !== 0 ? c.rcvNxt : 0,
      flags,
      window: (flags & SYN) !== 0 ? Math.min(window, MAX_WINDOW) : windowField(c, window),
      ...(options === undefined ? {} : { options }),
    },
    len,
    len > 0
      ? (dst) => {
          ring.peek(payloadOffset, dst);
        }
      : undefined,
    partial,
  );
  if ((flags & ACK) !== 0) {
    // Any segment carrying ACK is the ACK we owed (piggybacking).
    c.lastAckSent = c.rcvNxt;
    c.ackNow = false;
    c.rcvUnacked = 0;
    c.timers.delayedAck = Infinity;
  }
  // A super-packet counts as the segments the wire carries (Linux: gso_segs).
  if (segmentSize > 0) {
    c.host.stats.superPacketsOut++;
    c.host.stats.segmentsOut += Math.ceil(len / segmentSize);
  } else {
    c.host.stats.segmentsOut++;
  }
  c.host.transmit(packet, partial ? OFFLOAD_CSUM_PARTIAL | segmentSize : 0);
}

// ---- the receive window -----------------------------------------------------

/** Receiver SWS threshold (RFC 9293 §3.8.6.2.2): min(Fr * RCV.BUFF, Eff.snd.MSS), Fr = 1/2. */
function swsThreshold(c: Connection): number {
  return Math.min(Math.floor(c.rcvBuf.capacity / 2), rcvSegmentSize(c));
}

/**
 * The payload of the peer's full-sized segments, the "Eff.snd.MSS" of the
 * sender we receive from. Our MSS option bounds it, the peer's does not (that
 * one bounds what we send, `c.mss`): what counts is what the peer actually
 * sends, the largest segment seen (Linux's rcv_mss). Until one larger than
 * the 536-byte default has arrived, assume a symmetric path: the peer's full
 * segments are as large as ours, less the options of every data segment.
 */
function rcvSegmentSize(c: Connection): number {
  return c.rcvMss > DEFAULT_MSS ? c.rcvMss : c.mss - c.dataOptionsLength;
}

/**
 * The window the receive ring could offer: its free space, capped by the
 * window field, rounded down to a whole number of segments (as Linux's
 * __tcp_select_window does). A window the sender can fill only with full
 * segments closes all the way to zero when the application stops reading,
 * instead of stalling at a remainder the sender's own SWS avoidance will
 * not send into.
 */
function windowFromBuffer(c: Connection): number {
  const free = Math.min(c.rcvBuf.free, MAX_WINDOW << c.rcvWndShift);
  const segment = rcvSegmentSize(c);
  return free >= segment ? free - (free % segment) : free;
}

/**
 * The window to put in the next segment, committing its right edge. The edge
 * never moves left (RFC 9293 §3.8.6: shrinking the window is strongly
 * discouraged), and moves right only in steps of at least the SWS threshold,
 * so a slowly reading application does not invite a trickle of tiny segments.
 */
export function advertisedWindow(c: Connection): number {
  const free = windowFromBuffer(c);
  const newRight = seqAdd(c.rcvNxt, free);
  if (seqGt(newRight, c.rcvAdv) && seqDiff(newRight, c.rcvAdv) >= swsThreshold(c)) {
    c.rcvAdv = newRight;
    return free;
  }
  return Math.max(0, seqDiff(c.rcvAdv, c.rcvNxt));
}

/**
 * After the application read: is a window update worth a segment of its own?
 * Yes when the right edge may advance by the SWS threshold and the window at
 * least doubles (a closed window always qualifies). The doubling condition is
 * Linux's (tcp_cleanup_rbuf): an application reading in small pieces from a
 * wide-open window would otherwise send an update per read, while the peer,
 * still having room, will get the new window on our next ACK anyway.
 */
export function windowUpdateDue(c: Connection): boolean {
  const current = Math.max(0, seqDiff(c.rcvAdv, c.rcvNxt));
  const free = windowFromBuffer(c);
  const newRight = seqAdd(c.rcvNxt, free);
  return seqGt(newRight, c.rcvAdv) && seqDiff(newRight, c.rcvAdv) >= swsThreshold(c) && free >= 2 * current;
}

// ---- replies for segments that have no connection ---------------------------

/** An RST answering `seg` on behalf of connection `c` (bad ACK in SYN-SENT or SYN-RECEIVED). */
export function replyReset(c: Connection, seg: TcpView): void {
  c.host.stats.rstsSent++;
  c.host.stats.segmentsOut++;
  c.host.transmit(buildResetReply(c.localAddress, c.remoteAddress, seg));
}

/**
 * The reset of RFC 9293 §3.10.7.1 answering `seg` (never called for an RST):
 * with ACK set, <SEQ=SEG.ACK><CTL=RST>; otherwise
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
 */
export function buildResetReply(local: Ipv4Address, remote: Ipv4Address, seg: TcpView): Uint8Array {
  const withAck = seg.hasAck;
  return buildTcpPacket(
    { src: local, dst: remote },
    {
      srcPort: seg.dstPort,
      dstPort: seg.srcPort,
      seq: withAck ? seg.ack : 0,
      ack: withAck ? 0 : seqAdd(seg.seq, seg.segLen),
      flags: withAck ? RST : RST | ACK,
      window: 0,
    },
  );
}
