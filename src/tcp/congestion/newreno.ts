/**
 * NewReno's congestion control (RFC 5681 §3.1, RFC 6582): slow start and
 * congestion avoidance with appropriate byte counting (RFC 3465), a
 * multiplicative decrease of one half, and the collapse to one segment on a
 * retransmission timeout; initial window per RFC 6928.
 *
 * What makes it "New" — the recover point and partial ACKs of RFC 6582 — is
 * loss recovery's business (loss-recovery.ts), shared with every algorithm.
 */
import type { AckSample, CongestionControl, WindowState } from './congestion-control.ts';
import { initialWindow } from './congestion-control.ts';

/**
 * RFC 3465 §2.2: in slow start an ACK may grow cwnd by at most L*SMSS; L = 2
 * makes up for the receiver's delayed ACKs (one ACK per two segments).
 */
const ABC_LIMIT = 2;

export class NewReno implements CongestionControl {
  readonly name = 'newreno';
  private mss: number;
  private cwnd: number;
  ssthresh = Infinity;
  /** Bytes acknowledged since cwnd last grew in congestion avoidance (RFC 3465 §2.1). */
  private bytesAckedInAvoidance = 0;
  /**
   * RFC 3465 §2.3: in the slow start that follows a timeout, L is 1 — the
   * receiver may cumulatively acknowledge a whole window of out-of-order
   * data with one ACK, and growing by that would be a burst.
   */
  private afterTimeout = false;

  constructor(mss: number) {
    this.mss = mss;
    this.cwnd = initialWindow(mss);
  }

  window(): number {
    return this.cwnd;
  }

  setMss(mss: number): void {
    // Before any loss the window is still the initial one: recompute it for
    // the MSS the handshake settled on.
    if (this.ssthresh === Infinity && this.cwnd === initialWindow(this.mss)) this.cwnd = initialWindow(mss);
    this.mss = mss;
  }

  onAck(ack: AckSample, _now: number): void {
    if (ack.bytesAcked <= 0 || !ack.cwndLimited) return;
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 §3.1 eq. 2 with byte counting: growth by at most L*SMSS.
      const limit = (this.afterTimeout ? 1 : ABC_LIMIT) * this.mss;
      this.cwnd += Math.min(ack.bytesAcked, limit);
      if (this.cwnd >= this.ssthresh) this.afterTimeout = false;
      return;
    }
    // RFC 5681 §3.1 eq. 3 in its byte-counting form (RFC 3465 §2.1): one SMSS
    // per window's worth of acknowledged bytes.
    this.bytesAckedInAvoidance += ack.bytesAcked;
    if (this.bytesAckedInAvoidance >= this.cwnd) {
      this.bytesAckedInAvoidance -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  onCongestionEvent(flightSize: number, _now: number): void {
    // RFC 5681 §3.2 step 2 (eq. 4); RFC 6675 §5 step 4.2 sets cwnd to the same.
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.bytesAckedInAvoidance = 0;
    this.afterTimeout = false;
  }

  onRetransmitTimeout(flightSize: number, _now: number): void {
    // RFC 5681 §3.1 eq. 4, then the loss window of one segment.
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.bytesAckedInAvoidance = 0;
    this.afterTimeout = true;
  }

  setWindow(cwnd: number, _now: number): void {
    this.cwnd = Math.max(this.mss, Math.floor(cwnd));
  }

  undo(prior: WindowState, _now: number): void {
    this.cwnd = Math.max(this.cwnd, prior.cwnd);
    this.ssthresh = Math.max(this.ssthresh, prior.ssthresh);
    this.afterTimeout = false;
  }
}
