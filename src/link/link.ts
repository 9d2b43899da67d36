/**
 * A Link moves raw IPv4 packets between the stack and "the wire".
 *
 * Two things implement it: the TUN device (src/tun) and the in-memory link used
 * by tests (src/link/memory-link.ts). Decorators (impairment, pcap capture)
 * wrap a Link and are Links themselves, so everything above runs unchanged over
 * a real device or in virtual time.
 */
export type PacketBatchHandler = (packets: readonly Uint8Array[]) => void;

export interface Link {
  /** Largest IP packet this link carries, in bytes. */
  readonly mtu: number;
  /**
   * Sends one IP packet. The link must not keep a reference to `packet` after
   * the call returns unless it copies it: callers may reuse the buffer.
   */
  send(packet: Uint8Array): void;
  /** Sends several packets; same ownership rule as `send`. */
  sendBatch(packets: readonly Uint8Array[]): void;
  /**
   * Registers the receiver. The handler is called once per batch of packets
   * that arrived together. The views are only valid during the call (a device
   * reuses its read buffer): a receiver that keeps bytes must copy them.
   */
  onPackets(handler: PacketBatchHandler): void;
  /** Releases the link; no handler is called afterwards. */
  close(): void;
}
