/**
 * The IP layer's counters: a plain object of numbers, so the CLI can print it,
 * a test can compare it with `toEqual`, and reading it costs nothing.
 */
import { IPV4_DROP_REASONS, type Ipv4DropReason } from '../ip/ipv4.ts';

/**
 * Why the IP layer dropped a packet: a malformed header (Ipv4DropReason), a
 * destination that is not our address, or a protocol nobody registered for
 * (those get an ICMP protocol-unreachable when RFC 1122 allows one).
 */
export type IpDropReason = Ipv4DropReason | 'not-for-us' | 'no-transport';

export const IP_DROP_REASONS: readonly IpDropReason[] = [...IPV4_DROP_REASONS, 'not-for-us', 'no-transport'];

export interface IpStats {
  /** Every packet handed to `input`, whatever became of it. */
  ipPacketsIn: number;
  /** Every packet sent through `Stack.send` (ours and the transports'). */
  ipPacketsOut: number;
  /** Valid packets for us handed to ICMP or a transport. */
  ipDelivered: number;
  ipDropped: Record<IpDropReason, number>;
  /**
   * IPv6 packets, kept apart from `ipDropped`: a fresh TUN emits IPv6
   * link-local chatter (MLD, router solicitations) that is expected noise,
   * not a fault.
   */
  ipv6Dropped: number;
  icmpIn: number;
  icmpEchoRequests: number;
  icmpEchoRepliesSent: number;
  /** ICMP messages that failed `checkIcmp` (short or bad checksum). */
  icmpDropped: number;
  /** Valid ICMP we do not act on (echo replies, errors, other types). */
  icmpIgnored: number;
  icmpProtocolUnreachableSent: number;
}

export function createIpStats(): IpStats {
  const ipDropped = {} as Record<IpDropReason, number>;
  for (const reason of IP_DROP_REASONS) ipDropped[reason] = 0;
  return {
    ipPacketsIn: 0,
    ipPacketsOut: 0,
    ipDelivered: 0,
    ipDropped,
    ipv6Dropped: 0,
    icmpIn: 0,
    icmpEchoRequests: 0,
    icmpEchoRepliesSent: 0,
    icmpDropped: 0,
    icmpIgnored: 0,
    icmpProtocolUnreachableSent: 0,
  };
}

/** Sum of `ipDropped` (IPv6 not included). */
export function totalIpDropped(stats: IpStats): number {
  let total = 0;
  for (const reason of IP_DROP_REASONS) total += stats.ipDropped[reason];
  return total;
}
