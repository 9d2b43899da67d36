/**
 * Congestion control behind one interface, as gVisor (`congestionControl`)
 * and smoltcp (`congestion::Controller`) do, so that Reno, NewReno and CUBIC
 * can be swapped per connection. The connection tells it what happened (new
 * data acknowledged, a timeout, later duplicate ACKs and recovery episodes)
 * and asks it only one thing: how many bytes may be in flight.
 */
export interface CongestionControl {
  readonly name: string;
  /** Congestion window, bytes. */
  window(): number;
  /** Slow-start threshold, bytes (Infinity before the first loss). */
  readonly ssthresh: number;
  /** `bytesAcked` new bytes were cumulatively acknowledged. */
  onAck(bytesAcked: number, now: number): void;
  /** The retransmission timer expired with `flightSize` bytes outstanding (RFC 5681 §3.1, eq. 4). */
  onRetransmitTimeout(flightSize: number): void;
  /** The effective MSS changed (known at the end of the handshake). */
  setMss(mss: number): void;

  // Hooks for loss recovery (RFC 5681 §3.2, RFC 6582, RFC 6675). The core
  // does not call them yet: fast retransmit comes with SACK in a later issue.

  /** A duplicate ACK arrived (`count` in a row). */
  onDuplicateAck(count: number, now: number): void;
  /** Fast retransmit fired with `flightSize` bytes outstanding; recovery begins. */
  onEnterRecovery(flightSize: number, now: number): void;
  /** The recovery point was acknowledged. */
  onExitRecovery(now: number): void;
}

export type CongestionControlFactory = (mss: number) => CongestionControl;
