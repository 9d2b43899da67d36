/**
 * RFC 5681 congestion control: slow start, congestion avoidance, and the
 * collapse to one segment on a retransmission timeout; initial window per
 * RFC 6928. Fast retransmit / fast recovery are the hooks at the bottom,
 * implemented as RFC 5681 §3.2 describes but not yet driven by the core.
 */
import type { CongestionControl } from './congestion-control.ts';

export class Reno implements CongestionControl {
  readonly name = 'reno';
  private mss: number;
  private cwnd: number;
  ssthresh = Infinity;
  /** Bytes acknowledged since cwnd last grew in congestion avoidance. */
  private bytesAckedInAvoidance = 0;

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

  onAck(bytesAcked: number, _now: number): void {
    if (bytesAcked <= 0) return;
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 §3.1 eq. 2: growth by at most one SMSS per ACK (appropriate
      // byte counting with L = 1, so stretch ACKs cannot inflate the window).
      this.cwnd += Math.min(bytesAcked, this.mss);
      return;
    }
    // RFC 5681 §3.1 eq. 3 in its byte-counting form (RFC 3465 §2.1): one SMSS
    // per window's worth of acknowledged bytes.
    this.bytesAckedInAvoidance += bytesAcked;
    if (this.bytesAckedInAvoidance >= this.cwnd) {
      this.bytesAckedInAvoidance -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  onRetransmitTimeout(flightSize: number): void {
    // RFC 5681 §3.1 eq. 4, then the loss window of one segment.
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.bytesAckedInAvoidance = 0;
  }

  onDuplicateAck(_count: number, _now: number): void {
    // Reno inflates the window by one SMSS per duplicate ACK during recovery;
    // recovery is not driven yet.
  }

  onEnterRecovery(flightSize: number, _now: number): void {
    // RFC 5681 §3.2 steps 2-3.
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.ssthresh + 3 * this.mss;
  }

  onExitRecovery(_now: number): void {
    // RFC 5681 §3.2 step 6: deflate the window.
    this.cwnd = this.ssthresh;
  }
}

/** RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)), ten segments at the usual MSS of 1460. */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}
