/**
 * RFC 5961, "Improving TCP's Robustness to Blind In-Window Attacks": an
 * off-path attacker who guesses the 4-tuple can hit the receive window with
 * an RST, a SYN or data far more easily than it can guess RCV.NXT exactly.
 *
 * - RST (§3.2): believed only at SEG.SEQ = RCV.NXT exactly; anywhere else in
 *   the window it earns a challenge ACK. A genuine peer that really lost its
 *   state answers that ACK with an RST at the exact sequence number.
 * - SYN in a synchronized state (§4.2): a challenge ACK, never a reset,
 *   whatever its sequence number.
 * - ACK (§5.2): acceptable only in [SND.UNA - MAX.SND.WND, SND.MAX]; older
 *   ones are dropped with a challenge ACK (newer ones keep RFC 9293's ACK
 *   and drop).
 *
 * Challenge ACKs are rate-limited stack-wide (§7; Linux
 * tcp_challenge_ack_limit), so that the defence cannot be turned into an
 * ACK amplifier. The per-second budget is randomized around the configured
 * limit, as Linux does since CVE-2016-5696: with an exact global budget an
 * off-path attacker can count our challenge ACKs and learn whether a guessed
 * 4-tuple exists, and from there its sequence numbers.
 */
import type { Connection } from './connection.ts';
import { sendAck } from './output.ts';
import { seqAdd, seqLt } from './seq.ts';

export class ChallengeAckLimiter {
  private second = Number.NaN;
  private budget = 0;

  constructor(
    /** Challenge ACKs per second on average (read each second, so a config change applies). */
    private readonly limit: () => number,
    private readonly random: () => number,
  ) {}

  /** Takes one challenge ACK from this second's budget; false when it is spent. */
  take(now: number): boolean {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      const limit = Math.max(0, Math.floor(this.limit()));
      // Linux (tcp_send_challenge_ack): limit/2 + a random number below limit.
      const r = this.random();
      const jitter = r >= 0 && r < 1 ? Math.floor(r * limit) : 0;
      this.budget = Math.ceil(limit / 2) + jitter;
    }
    if (this.budget <= 0) return false;
    this.budget--;
    return true;
  }
}

/** Sends a challenge ACK (<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>) unless the rate limit holds it back. */
export function sendChallengeAck(c: Connection, now: number): void {
  const stats = c.host.stats;
  if (!c.host.challengeAckLimiter.take(now)) {
    stats.challengeAcksSuppressed++;
    return;
  }
  stats.challengeAcks++;
  sendAck(c, now);
}

/**
 * RFC 5961 §3.2 for an RST that passed the window test: true when it must
 * be challenged rather than believed (SEG.SEQ is not exactly RCV.NXT).
 */
export function rstNeedsChallenge(c: Connection, origSeq: number): boolean {
  return origSeq !== c.rcvNxt;
}

/** RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND is too old to be genuine. */
export function ackTooOld(c: Connection, ack: number): boolean {
  return seqLt(ack, seqAdd(c.sndUna, -c.maxSndWnd));
}
