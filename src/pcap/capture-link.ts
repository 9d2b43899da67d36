/**
 * A Link decorator that records every packet crossing it into a pcap file,
 * both directions, then passes it on unchanged. Put it directly over the
 * device to capture what the wire saw, or over an ImpairedLink to capture
 * what the stack saw after impairment.
 */
import type { Link, PacketBatchHandler } from '../link/link.ts';
import type { PcapWriter } from './pcap-writer.ts';

export class CaptureLink implements Link {
  readonly mtu: number;
  private handler: PacketBatchHandler | null = null;

  /** `clock` gives wall-clock ms since the epoch (Date.now in production). */
  constructor(
    private readonly inner: Link,
    private readonly writer: PcapWriter,
    private readonly clock: () => number,
  ) {
    this.mtu = inner.mtu;
    inner.onPackets((batch) => {
      const handler = this.handler;
      // Record before delivering: the batch's views may be reused afterwards,
      // and the writer copies them.
      const t = this.clock();
      for (const p of batch) this.writer.write(p, t);
      handler?.(batch);
    });
  }

  send(packet: Uint8Array): void {
    this.writer.write(packet, this.clock());
    this.inner.send(packet);
  }

  sendBatch(packets: readonly Uint8Array[]): void {
    const t = this.clock();
    for (const p of packets) this.writer.write(p, t);
    this.inner.sendBatch(packets);
  }

  onPackets(handler: PacketBatchHandler): void {
    this.handler = handler;
  }

  /** Closes the inner link; the writer belongs to the caller (close it to flush). */
  close(): void {
    this.handler = null;
    this.inner.close();
  }
}
