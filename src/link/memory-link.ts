/**
 * A wire in memory: two Link ends joined by a scheduler. Tests put two stacks
 * (or a stack and a scripted peer) on it and run in virtual time.
 */
import type { Link, PacketBatchHandler } from './link.ts';
import { MAX_SUPER_PACKET, offloadSegmentSize } from './offload.ts';
import type { Scheduler } from './scheduler.ts';

export interface MemoryLinkOptions {
  scheduler: Scheduler;
  /** Largest packet carried; larger ones are dropped and counted. */
  mtu?: number;
  /** One-way delay in ms. Even 0 goes through the scheduler, never re-entrantly. */
  latencyMs?: number;
  /**
   * Both ends offer segmentation and checksum offload (offloadMaxSize 65535)
   * and carry every packet's offload word to the other end unchanged, as a
   * TUN device does between our stack and the kernel's local delivery: a
   * super-packet arrives whole. Default false.
   */
  offload?: boolean;
}

export interface MemoryLinkStats {
  /** Packets this end put on the wire (toward the other end). */
  sent: number;
  /** Packets handed to this end's receiver. */
  delivered: number;
  /** Packets this end refused to send because they exceeded the MTU. */
  droppedOversize: number;
  /** Packets that reached this end with no receiver registered, or after close. */
  droppedNoReceiver: number;
}

export type SendTap = (packet: Uint8Array, now: number, offload: number) => void;

interface Batch {
  due: number;
  packets: Uint8Array[];
  offload: number[];
}

export class MemoryLink implements Link {
  readonly mtu: number;
  readonly offloadMaxSize: number;
  readonly stats: MemoryLinkStats = { sent: 0, delivered: 0, droppedOversize: 0, droppedNoReceiver: 0 };

  /** Set by createMemoryLinkPair. */
  peer!: MemoryLink;
  private handler: PacketBatchHandler | null = null;
  private taps: SendTap[] = [];
  private closed = false;
  /** Batches in flight toward this end, in due order (latency is constant). */
  private readonly inbound: Batch[] = [];

  constructor(
    private readonly scheduler: Scheduler,
    mtu: number,
    private readonly latencyMs: number,
    offload = false,
  ) {
    this.mtu = mtu;
    this.offloadMaxSize = offload ? MAX_SUPER_PACKET : 0;
  }

  send(packet: Uint8Array, offload = 0): void {
    if (this.closed) return;
    const limit = offloadSegmentSize(offload) > 0 ? this.offloadMaxSize : this.mtu;
    if (packet.length > limit || (offload !== 0 && this.offloadMaxSize === 0)) {
      this.stats.droppedOversize++;
      return;
    }
    this.stats.sent++;
    const now = this.scheduler.now();
    for (const tap of this.taps) tap(packet, now, offload);
    // Copy: the sender may reuse its buffer as soon as send returns.
    this.peer.enqueue(packet.slice(), offload, now + this.latencyMs);
  }

  sendBatch(packets: readonly Uint8Array[], offload?: ArrayLike<number>): void {
    for (let i = 0; i < packets.length; i++) this.send(packets[i]!, offload?.[i] ?? 0);
  }

  onPackets(handler: PacketBatchHandler): void {
    this.handler = handler;
  }

  /** Watches every packet this end sends (the view is valid during the call only). */
  onSend(tap: SendTap): void {
    this.taps.push(tap);
  }

  close(): void {
    this.closed = true;
    this.handler = null;
  }

  private enqueue(packet: Uint8Array, offload: number, due: number): void {
    const last = this.inbound[this.inbound.length - 1];
    if (last !== undefined && last.due === due) {
      last.packets.push(packet);
      last.offload.push(offload);
      return;
    }
    this.inbound.push({ due, packets: [packet], offload: [offload] });
    this.scheduler.at(due, () => this.deliver());
  }

  private deliver(): void {
    const batch = this.inbound.shift();
    if (batch === undefined) return;
    const handler = this.handler;
    if (handler === null || this.closed) {
      this.stats.droppedNoReceiver += batch.packets.length;
      return;
    }
    this.stats.delivered += batch.packets.length;
    if (this.offloadMaxSize > 0) handler(batch.packets, batch.offload);
    else handler(batch.packets);
  }
}

/** Two connected ends: what one sends, the other receives `latencyMs` later. */
export function createMemoryLinkPair(options: MemoryLinkOptions): [MemoryLink, MemoryLink] {
  const mtu = options.mtu ?? 1500;
  const latency = options.latencyMs ?? 0;
  if (!(mtu > 0)) throw new RangeError(`mtu must be positive, got ${mtu}`);
  if (!(latency >= 0)) throw new RangeError(`latencyMs must be >= 0, got ${latency}`);
  const offload = options.offload ?? false;
  const a = new MemoryLink(options.scheduler, mtu, latency, offload);
  const b = new MemoryLink(options.scheduler, mtu, latency, offload);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
