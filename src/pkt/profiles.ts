/**
 * Profiles: the defaults a corpus of scripts assumes about the stack under
 * test. Our own corpus (test/pkt) is written against tuntcp's defaults;
 * scripts written for Linux or FreeBSD assume those kernels' timers, buffer
 * sizes and listen-queue arithmetic, which a profile sets in TcpConfig
 * before the script's own sysctls.
 *
 * What the core has no knob for (initial window: 10 segments; MSS: always
 * MTU - 40; window scaling) cannot be set by a profile; a script that
 * depends on a different value fails or is unsupported, and docs/packetdrill.md
 * says so.
 */
import type { TcpConfig } from '../tcp/config.ts';

export interface Profile {
  name: string;
  description: string;
  config: Partial<TcpConfig>;
  /** Link MTU handed to Tcp (MSS advertised = mtu - 40). */
  mtu: number;
  /**
   * The accept-queue bound for `listen(fd, n)`. Linux admits n + 1
   * connections (sk_ack_backlog > sk_max_ack_backlog is "full"); FreeBSD
   * refuses only once the queue exceeds 3n/2; ours is exactly n.
   */
  acceptQueueLimit(backlog: number): number;
  /** Symbols #ifdef can test, in addition to STANDARD. */
  defines: Readonly<Record<string, string>>;
}

export const PROFILES: Readonly<Record<string, Profile>> = {
  tuntcp: {
    name: 'tuntcp',
    description: "tuntcp's own defaults (delayed ACK 40 ms, initial RTO 1 s, min RTO 200 ms, TIME-WAIT 60 s, 64 KiB rings)",
    config: {},
    mtu: 1500,
    acceptQueueLimit: (n) => n,
    defines: { TUNTCP: '1' },
  },
  linux: {
    name: 'linux',
    description: 'Linux defaults: delayed ACK 40 ms, initial RTO 1 s, min RTO 200 ms, TIME-WAIT 60 s, accept queue backlog+1',
    config: {
      delAckMs: 40,
      initialRtoMs: 1000,
      minRtoMs: 200,
      maxRtoMs: 120_000,
      timeWaitMs: 60_000,
      synRetries: 6,
      synAckRetries: 5,
      maxRetries: 15,
      keepAliveIdleMs: 7_200_000,
      keepAliveIntervalMs: 75_000,
      keepAliveCount: 9,
    },
    mtu: 1500,
    acceptQueueLimit: (n) => n + 1,
    defines: { LINUX: '1' },
  },
  freebsd: {
    name: 'freebsd',
    description: 'FreeBSD defaults: delayed ACK 100 ms, initial RTO 1 s, min RTO 30 ms, 2*MSL 60 s, 32 KiB send / 64 KiB receive buffers',
    config: {
      delAckMs: 100,
      initialRtoMs: 1000,
      minRtoMs: 30,
      maxRtoMs: 64_000,
      timeWaitMs: 60_000,
      rcvBuf: 65536,
      sndBuf: 32768,
      synRetries: 6,
      synAckRetries: 3,
      maxRetries: 12,
      keepAliveIdleMs: 7_200_000,
      keepAliveIntervalMs: 75_000,
      keepAliveCount: 8,
    },
    mtu: 1500,
    acceptQueueLimit: (n) => Math.floor((3 * n) / 2) + 1,
    defines: { FREEBSD: '1' },
  },
};

export const PROFILE_NAMES: readonly string[] = Object.keys(PROFILES);

export function getProfile(name: string): Profile {
  const p = PROFILES[name];
  if (p === undefined) throw new RangeError(`unknown profile '${name}' (known: ${PROFILE_NAMES.join(', ')})`);
  return p;
}
