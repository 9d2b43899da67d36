/**
 * A Link moves raw IPv4 packets between the stack and "the wire".
 *
 * Two things implement it: the TUN device (src/tun) and the in-memory link used
 * by tests (src/link/memory-link.ts). Decorators (impairment, pcap capture)
 * wrap a Link and are Links themselves, so everything above runs unchanged over
 * a real device or in virtual time.
 */
/**
 * `offload[i]` is packet i's offload word (src/link/offload.ts: segment size
 * of a super-packet, checksum state); absent, every word is 0.
 */
export type PacketBatchHandler = (packets: readonly Uint8Array[], offload?: ArrayLike<number>) => void;

export interface Link {
  /** Largest IP packet this link carries, in bytes. */
  readonly mtu: number;
  /**
   * Segmentation and checksum offload (src/link/offload.ts): when > 0, the
   * link takes TCP super-packets up to this size with a segment size in
   * their offload word, and partial checksums. Absent or 0: neither; every
   * packet must be whole and at most `mtu`.
   */
  readonly offloadMaxSize?: number;
  /**
   * Sends one IP packet with its offload word (0: an ordinary packet). The
   * link must not keep a reference to `packet` after the call returns
   * unless it copies it: callers may reuse the buffer.
   */
  send(packet: Uint8Array, offload?: number): void;
  /** Sends several packets (offload words parallel to them, or none); same ownership rule as `send`. */
  sendBatch(packets: readonly Uint8Array[], offload?: ArrayLike<number>): void;
  /**
   * Registers the receiver. The handler is called once per batch of packets
   * that arrived together. The views are only valid during the call (a device
   * reuses its read buffer): a receiver that keeps bytes must copy them.
   * Only a link with `offloadMaxSize` > 0 delivers non-zero offload words.
   */
  onPackets(handler: PacketBatchHandler): void;
  /** Releases the link; no handler is called afterwards. */
  close(): void;
}
