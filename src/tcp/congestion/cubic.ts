/**
 * CUBIC (RFC 9438), Linux's default since 2.6.19.
 *
 * After a congestion event the window follows a cubic function of the time
 * since congestion avoidance began (§4.2):
 *
 *   W_cubic(t) = C * (t - K)^3 + W_max,   K = cbrt((W_max - cwnd_epoch) / C)
 *
 * concave up to W_max (the window at the last loss: approach it carefully),
 * then convex beyond it (probe for more). C = 0.4, β = 0.7. Windows in the
 * formulas are in segments and t in seconds, as in the RFC; cwnd itself is
 * kept in bytes (fractional, so that small per-ACK increments add up).
 *
 * Where Reno would grow faster (short RTTs, small windows), the window
 * follows W_est, Reno's AIMD with α = 3(1-β)/(1+β), instead (§4.3, the
 * "Reno-friendly region"). Fast convergence (§4.7) releases bandwidth to a
 * new flow: a loss before reaching the previous W_max lowers W_max further.
 *
 * Slow start is the standard one (RFC 5681 with RFC 3465 byte counting);
 * HyStart++ (RFC 9406) is not implemented.
 */
import type { AckSample, CongestionControl, WindowState } from './congestion-control.ts';
import { initialWindow } from './congestion-control.ts';

/** RFC 9438 §5: C = 0.4 (segments / s^3). */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: the multiplicative decrease factor. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: the AIMD increase that makes W_est as fast as Reno on average. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);
const ABC_LIMIT = 2;

/** RFC 9438 eq. 1 and 2, exported for tests and the curious. */
export function cubicK(wMax: number, cwndEpoch: number): number {
  return wMax > cwndEpoch ? Math.cbrt((wMax - cwndEpoch) / CUBIC_C) : 0;
}

export function wCubic(t: number, k: number, wMax: number): number {
  return CUBIC_C * (t - k) ** 3 + wMax;
}

export class Cubic implements CongestionControl {
  readonly name = 'cubic';
  private mss: number;
  /** Bytes, fractional. */
  private cwnd: number;
  ssthresh = Infinity;
  /** Segments: the window just before the last reduction (after fast convergence). */
  private wMax = 0;
  /** Segments: cwnd when ssthresh was last set (§4.3: switches α to 1 once W_est reaches it). */
  private cwndPrior = 0;
  /** Start of the current congestion avoidance stage (ms); null until the first ACK in it. */
  private epochStart: number | null = null;
  private k = 0;
  /** The cubic curve's plateau for this epoch, segments (W_max, or cwnd_epoch if above it). */
  private origin = 0;
  /** Segments: Reno's window estimate (§4.3). */
  private wEst = 0;
  private afterTimeout = false;
  /** W_max and cwnd_prior before the last reduction, for undo. */
  private priorWMax = 0;
  private priorCwndPrior = 0;

  constructor(mss: number) {
    this.mss = mss;
    this.cwnd = initialWindow(mss);
  }

  window(): number {
    return Math.floor(this.cwnd);
  }

  setMss(mss: number): void {
    if (this.ssthresh === Infinity && this.cwnd === initialWindow(this.mss)) this.cwnd = initialWindow(mss);
    this.mss = mss;
  }

  /** For tests and getInfo-style introspection: the state of the current epoch. */
  get state(): { wMax: number; k: number; epochStart: number | null; wEst: number; origin: number } {
    return { wMax: this.wMax, k: this.k, epochStart: this.epochStart, wEst: this.wEst, origin: this.origin };
  }

  onAck(ack: AckSample, now: number): void {
    if (ack.bytesAcked <= 0 || !ack.cwndLimited) return;
    const mss = this.mss;
    if (this.cwnd < this.ssthresh) {
      // §4.10: standard slow start (RFC 5681, RFC 3465 §2.2-2.3).
      this.cwnd += Math.min(ack.bytesAcked, (this.afterTimeout ? 1 : ABC_LIMIT) * mss);
      return;
    }
    const cwndSeg = this.cwnd / mss;
    if (this.epochStart === null) this.startEpoch(cwndSeg, now);
    const t = (now - this.epochStart!) / 1000;
    const rtt = ack.srtt / 1000;
    const segmentsAcked = ack.bytesAcked / mss;

    // §4.3: Reno's window over the same time, W_est += α * acked / cwnd; α
    // becomes 1 once W_est is back at the window of the last reduction.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * segmentsAcked) / cwndSeg;

    if (wCubic(t, this.k, this.origin) < this.wEst) {
      // Reno-friendly region.
      this.cwnd = Math.max(this.cwnd, this.wEst * mss);
      return;
    }
    // §4.4-4.5: concave and convex regions. Aim at the curve one RTT ahead,
    // bounded to [cwnd, 1.5 cwnd], and cover the distance over one window
    // of ACKs: (target - cwnd) / cwnd per segment acknowledged.
    let target = wCubic(t + rtt, this.k, this.origin);
    if (target < cwndSeg) target = cwndSeg;
    else if (target > 1.5 * cwndSeg) target = 1.5 * cwndSeg;
    this.cwnd += ((target - cwndSeg) / cwndSeg) * segmentsAcked * mss;
  }

  onCongestionEvent(flightSize: number, _now: number): void {
    this.reduce(flightSize);
    this.cwnd = this.ssthresh;
  }

  onRetransmitTimeout(flightSize: number, _now: number): void {
    // §4.8: Reno's reaction (one segment) with CUBIC's ssthresh; the first
    // epoch afterwards starts with K = 0 and W_max = cwnd_epoch.
    this.reduce(flightSize);
    this.cwnd = this.mss;
    this.afterTimeout = true;
  }

  setWindow(cwnd: number, _now: number): void {
    this.cwnd = Math.max(this.mss, cwnd);
  }

  undo(prior: WindowState, _now: number): void {
    this.cwnd = Math.max(this.cwnd, prior.cwnd);
    this.ssthresh = Math.max(this.ssthresh, prior.ssthresh);
    this.wMax = this.priorWMax;
    this.cwndPrior = this.priorCwndPrior;
    // A new epoch from where the window is now.
    this.epochStart = null;
    this.afterTimeout = false;
  }

  /** §4.6-4.7: W_max with fast convergence, then ssthresh = β * FlightSize. */
  private reduce(flightSize: number): void {
    const cwndSeg = this.cwnd / this.mss;
    this.priorWMax = this.wMax;
    this.priorCwndPrior = this.cwndPrior;
    // Fast convergence: a loss before regaining the previous W_max means
    // another flow is taking bandwidth; leave it some.
    this.wMax = cwndSeg < this.wMax ? (cwndSeg * (1 + CUBIC_BETA)) / 2 : cwndSeg;
    this.cwndPrior = cwndSeg;
    // RFC 9438 §4.6 uses FlightSize (an application-limited sender would
    // otherwise keep a cwnd it never used); at least two segments.
    // (+1e-6: 0.7 * 90000 is 62999.999... in binary floating point.)
    this.ssthresh = Math.max(Math.floor(flightSize * CUBIC_BETA + 1e-6), 2 * this.mss);
    this.epochStart = null;
    this.afterTimeout = false;
  }

  private startEpoch(cwndSeg: number, now: number): void {
    this.epochStart = now;
    if (this.afterTimeout || this.wMax <= cwndSeg) {
      // §4.8 after a timeout, and whenever we are already past W_max: the
      // curve starts where we are, convex from the first ACK.
      this.k = 0;
      this.origin = cwndSeg;
    } else {
      this.k = cubicK(this.wMax, cwndSeg);
      this.origin = this.wMax;
    }
    this.afterTimeout = false;
    // §4.3: W_est starts at cwnd_epoch.
    this.wEst = cwndSeg;
  }
}
