import type { CongestionControlName } from './api.ts';
import { DEFAULT_CONGESTION_CONTROL, congestionControlNames, hasCongestionControl } from './congestion/registry.ts';

/**
 * Stack-wide TCP tunables. Every limit the stack enforces is named here with
 * its default, so that "what happens when X is full" always has a knob and a
 * documented value.
 */
export interface TcpConfig {
  /** Receive ring capacity (bytes); the most we ever advertise. */
  rcvBuf: number;
  /** Send ring capacity (bytes): unacknowledged + unsent. */
  sndBuf: number;
  /** Accept queue bound (established, not yet accepted), per listener. */
  backlog: number;
  /** SYN queue bound (half-open, SYN-RECEIVED), per listener. */
  synBacklog: number;
  /** Delayed-ACK timeout; RFC 9293 §3.8.6.3 requires it below 0.5 s. */
  delAckMs: number;
  /** TIME-WAIT duration, 2*MSL (RFC 9293 §3.4.2 takes MSL = 2 minutes; Linux uses 60 s in total). */
  timeWaitMs: number;
  /** RFC 6298 §2.1: 1 s before any RTT sample. */
  initialRtoMs: number;
  /** RFC 6298 §2.4 says 1 s; Linux and most stacks use 200 ms. */
  minRtoMs: number;
  maxRtoMs: number;
  /** Consecutive retransmission timeouts of one segment before ETIMEDOUT (Linux tcp_retries2). */
  maxRetries: number;
  /** SYN retransmissions before an active open fails (Linux tcp_syn_retries). */
  synRetries: number;
  /** SYN-ACK retransmissions before a half-open entry is freed (Linux tcp_synack_retries). */
  synAckRetries: number;
  /** Connection table bound, TIME-WAIT and SYN-RECEIVED entries included. */
  maxConnections: number;
  /** Separate out-of-order ranges held per connection. */
  maxOooRanges: number;
  /** RFC 1122 §4.2.3.6: no keepalive before 2 hours of idleness by default. */
  keepAliveIdleMs: number;
  keepAliveIntervalMs: number;
  /** Unanswered keepalive probes before ETIMEDOUT. */
  keepAliveCount: number;
  /** Ephemeral port range for active opens (RFC 6056 §3.2 suggests 1024-65535; IANA's is 49152-65535). */
  ephemeralPortMin: number;
  ephemeralPortMax: number;
  /**
   * Congestion control for connections that do not choose one (registry
   * name). 'cubic' by default, as Linux: see congestion/registry.ts.
   */
  congestionControl: CongestionControlName;
  /** RFC 7323 window scaling, offered on our SYNs and accepted on the peer's (Linux tcp_window_scaling): 1 on, 0 off. */
  windowScaling: number;
  /** RFC 7323 timestamps (Linux tcp_timestamps): 1 on, 0 off. */
  timestamps: number;
  /** RFC 2018 SACK-permitted (Linux tcp_sack): 1 on, 0 off. */
  sack: number;
  /** RFC 2883 D-SACK blocks when SACK is in use (Linux tcp_dsack): 1 on, 0 off. */
  dsack: number;
  /** RFC 4987 SYN cookies (Linux tcp_syncookies): 0 never, 1 when the SYN queue is full, 2 for every SYN. */
  synCookies: number;
  /** RFC 5961 §7: challenge ACKs per second, stack-wide, on average (Linux tcp_challenge_ack_limit). */
  challengeAckLimit: number;
  /** An orphaned connection's longest stay in FIN-WAIT-2 (Linux tcp_fin_timeout). */
  finWait2TimeoutMs: number;
  /**
   * Zero-window probes an orphaned connection sends, answered or not, before
   * it is reset and freed (Linux tcp_orphan_retries, whose 0 means 8).
   */
  orphanRetries: number;
  /**
   * At most one duplicate ACK per this many ms for unacceptable segments that
   * occupy no sequence space, per connection (Linux tcp_invalid_ratelimit).
   */
  invalidRateLimitMs: number;
}

export const DEFAULT_TCP_CONFIG: Readonly<TcpConfig> = Object.freeze({
  rcvBuf: 65536,
  sndBuf: 65536,
  backlog: 128,
  synBacklog: 256,
  delAckMs: 40,
  timeWaitMs: 60_000,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 120_000,
  maxRetries: 15,
  synRetries: 6,
  synAckRetries: 5,
  maxConnections: 65536,
  maxOooRanges: 32,
  keepAliveIdleMs: 7_200_000,
  keepAliveIntervalMs: 75_000,
  keepAliveCount: 9,
  ephemeralPortMin: 49152,
  ephemeralPortMax: 65535,
  congestionControl: DEFAULT_CONGESTION_CONTROL,
  windowScaling: 1,
  timestamps: 1,
  sack: 1,
  dsack: 1,
  synCookies: 1,
  challengeAckLimit: 1000,
  finWait2TimeoutMs: 60_000,
  orphanRetries: 8,
  invalidRateLimitMs: 500,
});

/** RFC 9293 §3.8.6.3: "the delay MUST be less than 0.5 seconds". */
const MAX_DELACK_MS = 500;

export function resolveTcpConfig(partial: Partial<TcpConfig> = {}): TcpConfig {
  const config: TcpConfig = { ...DEFAULT_TCP_CONFIG };
  for (const key of Object.keys(partial) as (keyof TcpConfig)[]) {
    const value = partial[key];
    if (value === undefined) continue;
    if (key === 'congestionControl') {
      if (typeof value !== 'string' || !hasCongestionControl(value)) {
        throw new RangeError(`TcpConfig.congestionControl ${JSON.stringify(value)} is not registered (known: ${congestionControlNames().join(', ')})`);
      }
      config.congestionControl = value;
      continue;
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`TcpConfig.${key} must be a finite non-negative number, got ${String(value)}`);
    }
    config[key] = value;
  }
  config.delAckMs = Math.min(config.delAckMs, MAX_DELACK_MS);
  if (config.rcvBuf < 1 || config.sndBuf < 1) throw new RangeError('TcpConfig.rcvBuf and sndBuf must be at least 1');
  if (config.maxOooRanges < 1) throw new RangeError('TcpConfig.maxOooRanges must be at least 1');
  if (config.minRtoMs > config.maxRtoMs) throw new RangeError('TcpConfig.minRtoMs must not exceed maxRtoMs');
  for (const key of ['windowScaling', 'timestamps', 'sack', 'dsack'] as const) {
    if (config[key] !== 0 && config[key] !== 1) throw new RangeError(`TcpConfig.${key} must be 0 or 1`);
  }
  if (![0, 1, 2].includes(config.synCookies)) throw new RangeError('TcpConfig.synCookies must be 0, 1 or 2');
  if (
    !Number.isInteger(config.ephemeralPortMin) ||
    !Number.isInteger(config.ephemeralPortMax) ||
    config.ephemeralPortMin < 1 ||
    config.ephemeralPortMax > 65535 ||
    config.ephemeralPortMin > config.ephemeralPortMax
  ) {
    throw new RangeError('TcpConfig ephemeral port range must be within 1-65535 and non-empty');
  }
  return config;
}
