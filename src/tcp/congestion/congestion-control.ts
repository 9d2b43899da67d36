/**
 * Congestion control behind one interface, as gVisor (`congestionControl`)
 * and smoltcp (`congestion::Controller`) do, so that NewReno and CUBIC (and
 * whatever is registered next, see registry.ts) can be swapped per
 * connection without the state machine knowing which one runs.
 *
 * The split of work follows RFC 9438 §4.6 ("CUBIC ... does not change fast
 * recovery"): an algorithm decides how the window GROWS (slow start,
 * congestion avoidance) and by how much it SHRINKS on a congestion event or
 * a timeout. Loss detection and the window accounting DURING recovery
 * (RFC 6582 inflation and deflation, RFC 6675 pipe) are the same for every
 * algorithm and live in loss-recovery.ts, which uses `setWindow`.
 */
export interface CongestionControl {
  /** The name it is registered under ('newreno', 'cubic', ...). */
  readonly name: string;
  /** Congestion window, bytes. */
  window(): number;
  /** Slow-start threshold, bytes (Infinity before the first congestion event). */
  readonly ssthresh: number;
  /** The effective MSS changed (known at the end of the handshake). */
  setMss(mss: number): void;
  /**
   * New data was cumulatively acknowledged outside loss recovery: grow the
   * window (slow start below ssthresh, congestion avoidance above).
   */
  onAck(ack: AckSample, now: number): void;
  /**
   * Loss detected by duplicate ACKs or SACK (RFC 5681 §3.2 step 2, RFC 6675
   * §5 step 4.2): set ssthresh by the algorithm's multiplicative decrease and
   * cwnd = ssthresh. Recovery then adjusts cwnd with `setWindow`.
   */
  onCongestionEvent(flightSize: number, now: number): void;
  /** The retransmission timer expired (RFC 5681 §3.1 eq. 4): new ssthresh, cwnd = one segment. */
  onRetransmitTimeout(flightSize: number, now: number): void;
  /**
   * The window loss recovery computed (RFC 6582 inflation and deflation, the
   * window on leaving recovery). It does not change ssthresh.
   */
  setWindow(cwnd: number, now: number): void;
  /**
   * The last congestion event was spurious (RFC 3708: every retransmission
   * of the recovery was reported duplicate by D-SACK, so nothing had been
   * lost): return to the state before it (RFC 4015's response, Linux's
   * undo), at least the window and ssthresh given.
   */
  undo(prior: WindowState, now: number): void;
}

/** cwnd and ssthresh at some moment, bytes. */
export interface WindowState {
  cwnd: number;
  ssthresh: number;
}

/** What one acknowledgment tells the algorithm. */
export interface AckSample {
  /** Data bytes newly acknowledged (a FIN's sequence slot not counted). */
  bytesAcked: number;
  /** Bytes that were in flight before this ACK (SND.MAX - SND.UNA). */
  flightSize: number;
  /** Smoothed RTT in ms; 0 before the first sample. */
  srtt: number;
  /**
   * The sender was using its window, so the growth was earned. An
   * application-limited or receive-window-limited sender must not inflate a
   * cwnd it never tests (RFC 7661 §4.1; Linux tcp_is_cwnd_limited), or one
   * burst of a window it never used follows the next loss.
   */
  cwndLimited: boolean;
}

export type CongestionControlFactory = (mss: number) => CongestionControl;

/** RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)), ten segments at the usual MSS of 1460. */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}
