/**
 * The per-connection timers of RFC 9293 §3.8 and RFC 1122 §4.2.3, as absolute
 * deadlines on the connection (Infinity = not armed). The core never sets a
 * real timer: `Tcp.nextDeadline()` reports the earliest deadline and
 * `Tcp.poll(now)` calls `fireTimers` for the connections that are due.
 *
 * Every timer decision lives in this file so that the data structure that
 * finds due connections (a min-heap, timer-queue.ts) can change without
 * touching the protocol. Its one rule: a deadline set here is followed by
 * `host.timerArmed(c)`, or the queue may not see that it moved earlier;
 * cancelling or postponing a timer needs no call (the queue finds out lazily).
 */
import { StackError } from '../errors.ts';
import type { Connection } from './connection.ts';
import { onRetransmitTimeout as lossRecoveryTimeout } from './loss-recovery.ts';
import { output, sendAck, sendKeepAliveProbe, sendReset, sendSyn, sendZeroWindowProbe } from './output.ts';
import { seqDiff } from './seq.ts';
import { connectionName, type TcpTimerName } from './trace.ts';

export class ConnectionTimers {
  /** RFC 6298 retransmission timer; also drives SYN and SYN-ACK retransmission. */
  retransmit = Infinity;
  /** RFC 9293 §3.8.6.1 persist timer (zero-window probes, and the sender SWS override timeout). */
  persist = Infinity;
  /** RFC 9293 §3.8.6.3 delayed ACK. */
  delayedAck = Infinity;
  /** RFC 1122 §4.2.3.6 keepalive (idle time, then probe interval). */
  keepAlive = Infinity;
  /** RFC 9293 §3.3.2: 2*MSL in TIME-WAIT. */
  timeWait = Infinity;

  earliest(): number {
    return Math.min(this.retransmit, this.persist, this.delayedAck, this.keepAlive, this.timeWait);
  }

  clear(): void {
    this.retransmit = Infinity;
    this.persist = Infinity;
    this.delayedAck = Infinity;
    this.keepAlive = Infinity;
    this.timeWait = Infinity;
  }
}

// ---- arming ---------------------------------------------------------------

/** RFC 6298 §5.1 / §5.3: (re)start the retransmission timer with the current RTO. */
export function restartRetransmitTimer(c: Connection, now: number): void {
  c.timers.retransmit = now + c.rtt.rto;
  c.host.timerArmed(c);
}

/** RFC 6298 §5.1: start it only if it is not already running. */
export function armRetransmitTimerIfIdle(c: Connection, now: number): void {
  if (c.timers.retransmit === Infinity) restartRetransmitTimer(c, now);
}

export function stopRetransmitTimer(c: Connection): void {
  c.timers.retransmit = Infinity;
}

export function armDelayedAck(c: Connection, now: number): void {
  if (c.timers.delayedAck !== Infinity) return;
  c.timers.delayedAck = now + c.host.config.delAckMs;
  c.host.timerArmed(c);
}

/** The persist timer starts at the current RTO and backs off from there (RFC 9293 §3.8.6.1). */
export function armPersistTimer(c: Connection, now: number): void {
  if (c.timers.persist !== Infinity) return;
  if (c.persistInterval === 0) {
    c.persistInterval = c.rtt.rto;
    c.persistProbes = 0;
  }
  c.timers.persist = now + c.persistInterval;
  c.host.timerArmed(c);
}

export function stopPersistTimer(c: Connection): void {
  c.timers.persist = Infinity;
}

/** A segment arrived: the connection is not idle (RFC 1122 §4.2.3.6). */
export function restartKeepAliveTimer(c: Connection, now: number): void {
  c.keepAliveProbesSent = 0;
  if (!c.keepAliveEnabled || !keepAliveState(c)) {
    c.timers.keepAlive = Infinity;
    return;
  }
  c.timers.keepAlive = now + c.keepAliveIdleMs;
  c.host.timerArmed(c);
}

export function armTimeWaitTimer(c: Connection, now: number): void {
  c.timers.timeWait = now + c.host.config.timeWaitMs;
  c.host.timerArmed(c);
}

function keepAliveState(c: Connection): boolean {
  return c.state === 'ESTABLISHED' || c.state === 'CLOSE-WAIT' || c.state === 'FIN-WAIT-2';
}

// ---- firing ---------------------------------------------------------------

/** Runs every timer of `c` that is due at `now`. */
export function fireTimers(c: Connection, now: number): void {
  const t = c.timers;
  if (c.host.tracer) traceDueTimers(c, now);
  if (t.timeWait <= now) {
    t.timeWait = Infinity;
    onTimeWaitTimeout(c);
    return;
  }
  if (t.retransmit <= now) {
    t.retransmit = Infinity;
    onRetransmitTimeout(c, now);
    if (c.state === 'CLOSED') return;
  }
  if (t.persist <= now) {
    t.persist = Infinity;
    onPersistTimeout(c, now);
    if (c.state === 'CLOSED') return;
  }
  if (t.delayedAck <= now) {
    t.delayedAck = Infinity;
    onDelayedAckTimeout(c, now);
    if (c.state === 'CLOSED') return;
  }
  if (t.keepAlive <= now) {
    t.keepAlive = Infinity;
    onKeepAliveTimeout(c, now);
  }
}

/**
 * RFC 9293 §3.10.8: TIME-WAIT timeout: delete the TCB (its onClose was
 * delivered on entry). The same slot bounds an orphan's FIN-WAIT-2
 * (orphan.ts): freed silently, as Linux does.
 */
function onTimeWaitTimeout(c: Connection): void {
  if (c.state === 'FIN-WAIT-2') c.host.stats.finWait2Timeouts++;
  c.release();
}

/**
 * RFC 6298 §5.4-5.7 for data; RFC 9293 §3.8.1 for SYN and SYN-ACK. The
 * retransmission is go-back-N: SND.NXT rewinds to SND.UNA and output() sends
 * again what the collapsed congestion window allows; SND.MAX keeps the
 * highest sequence number sent so that ACKs for the older transmissions
 * remain acceptable.
 */
/** Our SYN (or SYN-ACK) again, with the RTO backed off (RFC 6298 §5.5, §5.7). */
function retransmitSyn(c: Connection, now: number): void {
  c.retransmits++;
  c.synRetransmitted = true;
  c.rtt.backoff();
  sendSyn(c, now);
  restartRetransmitTimer(c, now);
}

function onRetransmitTimeout(c: Connection, now: number): void {
  const config = c.host.config;
  const stats = c.host.stats;
  switch (c.state) {
    case 'SYN-SENT': {
      if (c.retransmits >= config.synRetries) {
        stats.timeouts++;
        c.terminate(new StackError('ETIMEDOUT', 'connection timed out (no answer to SYN)', 'connect'));
        return;
      }
      retransmitSyn(c, now);
      return;
    }
    case 'SYN-RECEIVED': {
      const limit = c.passive ? config.synAckRetries : config.synRetries;
      if (c.retransmits >= limit) {
        if (c.passive) {
          // Linux frees the request silently: the peer's SYN may simply have
          // been a spoofed one, and an RST would be unsolicited noise.
          stats.synAckTimeouts++;
          c.release();
        } else {
          stats.timeouts++;
          c.terminate(new StackError('ETIMEDOUT', 'connection timed out (no answer to SYN-ACK)', 'connect'));
        }
        return;
      }
      retransmitSyn(c, now);
      return;
    }
    case 'CLOSED':
    case 'LISTEN':
    case 'TIME-WAIT':
      return;
    default:
      break;
  }
  if (c.sndUna === c.sndMax) return; // everything acknowledged meanwhile
  // A receiver that shrank its window to zero answers our retransmissions
  // with ACKs: like persist probes, they are not a dead peer (Linux
  // tcp_retransmit_timer makes the same exception, but not for an orphan,
  // which that peer could otherwise hold for ever, see onPersistTimeout).
  const peerAlive = !c.detached && c.sndWnd === 0 && c.ackedSinceTimeout;
  c.ackedSinceTimeout = false;
  if (!peerAlive) {
    if (c.retransmits >= config.maxRetries) {
      stats.timeouts++;
      sendReset(c);
      c.terminate(new StackError('ETIMEDOUT', 'connection timed out (retransmissions exhausted)', 'write'));
      return;
    }
    c.retransmits++;
  }
  c.rtt.backoff();
  lossRecoveryTimeout(c, now);
  c.rttTiming = false; // Karn: nothing sent before the timeout may be timed
  c.sndRtxEnd = c.sndMax;
  c.sndNxt = c.sndUna;
  output(c, now, true);
  restartRetransmitTimer(c, now);
}

/**
 * RFC 9293 §3.8.6.1: while the peer's window is zero and data waits, probe
 * it with one byte of new data, backing off exponentially. Probes answered by
 * ACKs reset the count, so a live peer keeps the connection open however
 * long its window stays shut (RFC 1122 §4.2.2.17). Not so an orphan: no
 * application will ever see its data delivered, and a peer answering every
 * probe with a zero window would hold the TCB for ever (netkill), so it
 * gets `orphanRetries` probes, answered or not, then an RST (Linux
 * tcp_probe_timer). With a non-zero but too small window the same timer is
 * the "override timeout" of RFC 9293 §3.8.6.2.1 (4): send what fits.
 */
function onPersistTimeout(c: Connection, now: number): void {
  if (!c.persistConditionHolds()) {
    c.persistInterval = 0;
    return;
  }
  if (c.sndWnd === 0) {
    if (c.persistProbesUnanswered >= c.host.config.maxRetries) {
      c.host.stats.timeouts++;
      sendReset(c);
      c.terminate(new StackError('ETIMEDOUT', 'connection timed out (zero-window probes unanswered)', 'write'));
      return;
    }
    if (c.detached && c.persistProbes >= c.host.config.orphanRetries) {
      c.host.stats.timeouts++;
      sendReset(c);
      c.terminate(new StackError('ETIMEDOUT', 'orphaned connection timed out behind a zero window', 'write'));
      return;
    }
    c.persistProbesUnanswered++;
    c.persistProbes++;
    sendZeroWindowProbe(c, now);
  } else {
    output(c, now, true);
  }
  c.persistInterval = Math.min(c.persistInterval * 2, c.host.config.maxRtoMs);
  if (c.persistConditionHolds()) armPersistTimer(c, now);
  else c.persistInterval = 0;
}

function onDelayedAckTimeout(c: Connection, now: number): void {
  c.host.stats.delayedAcks++;
  // Nothing of ours carried the ACK in time: not a request/response exchange.
  c.interactive = false;
  sendAck(c, now);
}

/** RFC 1122 §4.2.3.6: probe an idle connection; count unanswered probes. */
function onKeepAliveTimeout(c: Connection, now: number): void {
  if (!c.keepAliveEnabled || !keepAliveState(c)) return;
  // With data outstanding the retransmission or persist timer already
  // watches the peer (Linux skips the probe in that case too).
  if (c.sndUna !== c.sndMax || c.sndBuf.length > seqDiff(c.sndNxt, c.sndUna)) {
    c.timers.keepAlive = now + c.keepAliveIdleMs;
    c.host.timerArmed(c);
    return;
  }
  if (c.keepAliveProbesSent >= c.host.config.keepAliveCount) {
    c.host.stats.timeouts++;
    sendReset(c);
    c.terminate(new StackError('ETIMEDOUT', 'connection timed out (keepalive probes unanswered)', 'read'));
    return;
  }
  c.keepAliveProbesSent++;
  c.host.stats.keepAliveProbes++;
  sendKeepAliveProbe(c, now);
  c.timers.keepAlive = now + c.host.config.keepAliveIntervalMs;
  c.host.timerArmed(c);
}

/** `--trace`: the timers this fireTimers call is about to run, in the order it runs them. */
function traceDueTimers(c: Connection, now: number): void {
  const tracer = c.host.tracer;
  if (!tracer) return;
  const t = c.timers;
  const due: TcpTimerName[] = [];
  if (t.timeWait <= now) due.push('time-wait');
  else {
    if (t.retransmit <= now) due.push('retransmit');
    if (t.persist <= now) due.push('persist');
    if (t.delayedAck <= now) due.push('delayed-ack');
    if (t.keepAlive <= now) due.push('keepalive');
  }
  const conn = connectionName(c.localAddress, c.localPort, c.remoteAddress, c.remotePort);
  for (const timer of due) tracer({ event: 'timer', conn, timer, state: c.state });
}
