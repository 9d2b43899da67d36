/**
 * The retransmission timeout estimator of RFC 6298.
 *
 * Karn's rule (RFC 6298 §3) is the caller's business: it must not feed
 * samples taken from retransmitted segments. The estimator only smooths.
 */

/** Clock granularity G of RFC 6298 §2: our clock is in (fractional) milliseconds. */
const CLOCK_GRANULARITY_MS = 1;
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;
/** RFC 6298 §5.7: RTO to fall back to when the SYN had to be retransmitted. */
export const SYN_FALLBACK_RTO_MS = 3000;

export class RttEstimator {
  /** Smoothed RTT (ms); 0 until the first sample. */
  srtt = 0;
  rttvar = 0;
  /** Current RTO including any backoff (ms). */
  rto: number;
  hasSample = false;
  private readonly minRto: number;
  private readonly maxRto: number;

  constructor(initialRto: number, minRto: number, maxRto: number) {
    this.minRto = minRto;
    this.maxRto = maxRto;
    this.rto = this.clamp(initialRto);
  }

  /** Adds one RTT measurement (RFC 6298 §2.2-2.3); clears any backoff. */
  sample(rtt: number): void {
    const r = Math.max(0, rtt);
    if (!this.hasSample) {
      this.srtt = r;
      this.rttvar = r / 2;
      this.hasSample = true;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * r;
    }
    this.rto = this.clamp(this.srtt + Math.max(CLOCK_GRANULARITY_MS, K * this.rttvar));
  }

  /** RFC 6298 §5.5: double on each expiry, bounded by the maximum. */
  backoff(): void {
    this.rto = this.clamp(this.rto * 2);
  }

  /**
   * RFC 6298 §5.7: when the SYN (or SYN-ACK) had to be retransmitted and the
   * handshake gave no sample, data transmission starts with an RTO of 3 s
   * (if the initial one was smaller) rather than the backed-off value.
   */
  fallbackAfterSynRetransmit(initialRto: number): void {
    if (!this.hasSample) this.rto = this.clamp(Math.max(initialRto, SYN_FALLBACK_RTO_MS));
  }

  private clamp(rto: number): number {
    return Math.min(this.maxRto, Math.max(this.minRto, rto));
  }
}
