import type { Ipv4View } from '../ip/ipv4.ts';

/**
 * A transport protocol as the IP layer sees it. The IP layer validates the
 * IPv4 header, then hands the packet to the protocol registered for its
 * protocol number. TCP is the only one we speak; anything else gets an ICMP
 * protocol-unreachable.
 */
export interface TransportLayer {
  readonly protocol: number;
  /** `packet` is a validated view; its bytes are only valid during the call. */
  input(packet: Ipv4View, now: number): void;
  /** Runs due timers; may transmit. */
  poll(now: number): void;
  /** Earliest time `poll` has work to do, or Infinity. */
  nextDeadline(): number;
  /** Optional: a batch of input() calls starts / ends (see Tcp.beginBatch: ACK coalescing). */
  beginBatch?(): void;
  endBatch?(now: number): void;
}
