/**
 * A Link decorator that records every packet crossing it into a pcap file,
 * both directions, then passes it on unchanged. Put it directly over the
 * device to capture what the wire saw, or over an ImpairedLink to capture
 * what the stack saw after impairment. Super-packets and partial checksums
 * (segmentation and checksum offload, src/link/offload.ts) are recorded as
 * the segments the wire carries, with their checksums finished, so that
 * Wireshark shows real TCP.
 */
import type { Link, PacketBatchHandler } from '../link/link.ts';
import { wirePackets } from '../link/segmentation.ts';
import type { PcapWriter } from './pcap-writer.ts';

export class CaptureLink implements Link {
  readonly mtu: number;
  readonly offloadMaxSize: number;
  private handler: PacketBatchHandler | null = null;

  /** `clock` gives wall-clock ms since the epoch (Date.now in production). */
  constructor(
    private readonly inner: Link,
    private readonly writer: PcapWriter,
    private readonly clock: () => number,
  ) {
    this.mtu = inner.mtu;
    this.offloadMaxSize = inner.offloadMaxSize ?? 0;
    inner.onPackets((batch, offload) => {
      const handler = this.handler;
      // Record before delivering: the batch's views may be reused afterwards,
      // and the writer copies them.
      const t = this.clock();
      for (let i = 0; i < batch.length; i++) this.record(batch[i]!, offload?.[i] ?? 0, t);
      handler?.(batch, offload);
    });
  }

  send(packet: Uint8Array, offload = 0): void {
    this.record(packet, offload, this.clock());
    this.inner.send(packet, offload);
  }

  sendBatch(packets: readonly Uint8Array[], offload?: ArrayLike<number>): void {
    const t = this.clock();
    for (let i = 0; i < packets.length; i++) this.record(packets[i]!, offload?.[i] ?? 0, t);
    this.inner.sendBatch(packets, offload);
  }

  onPackets(handler: PacketBatchHandler): void {
    this.handler = handler;
  }

  /** Closes the inner link; the writer belongs to the caller (close it to flush). */
  close(): void {
    this.handler = null;
    this.inner.close();
  }

  private record(packet: Uint8Array, offload: number, t: number): void {
    if (offload === 0) this.writer.write(packet, t);
    else for (const p of wirePackets(packet, offload)) this.writer.write(p, t);
  }
}
