/**
 * A Link decorator that impairs traffic in our own link layer, netem-like,
 * because this machine's kernel has no netem qdisc — and because a seeded
 * impairment in user space is repeatable: the same seed loses the same
 * packets, so a failing run can be replayed exactly.
 *
 * Each packet goes through these stages, in this order:
 *   loss -> duplicate -> corrupt -> rate queue (serialization) -> delay line
 *   (delay ± jitter, + a hold for reordered packets) -> delivery.
 *
 * Randomness: every impairment of every direction has its own PRNG stream,
 * and each enabled impairment draws exactly once per packet offered, whatever
 * the other impairments decided. So the n-th packet's fate under loss depends
 * only on (seed, direction, n): enabling dup or corrupt never changes which
 * packets are lost.
 *
 * Reordering: jitter alone may reorder (each packet's delay is drawn on its
 * own, as netem does without a rate); `reorder=p` additionally holds the
 * chosen packet back REORDER_HOLD_MS beyond its delay, so that packets sent
 * within that time overtake it. It works with or without `delay`. A packet
 * chosen for reordering that nothing follows is merely late; `reordered`
 * counts the packets chosen.
 *
 * Offloads: the impaired link offers none to the stack (so what we send is
 * already segments), and a super-packet the wire hands in is cut into the
 * segments it stands for before impairment (src/link/segmentation.ts): loss
 * and reordering act on segments, as on a real wire.
 */
import type { Link, PacketBatchHandler } from './link.ts';
import type { Scheduler, Timer } from './scheduler.ts';
import { Prng } from './prng.ts';
import { wirePackets } from './segmentation.ts';
import { isIdentity, type ImpairDirection, type ImpairSpec } from './impair-spec.ts';

export const REORDER_HOLD_MS = 10;

export interface ImpairStats {
  /** Packets that entered this direction. */
  offered: number;
  /** Packets that left it (duplicates included). */
  passed: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
  /** Packets that went through the scheduler (rate queue or delay line). */
  delayed: number;
  /**
   * Tail drops: the direction already held `limit` packets in its rate queue
   * and delay line (the bound that keeps a fast sender from growing memory).
   */
  queueDropped: number;
}

function createImpairStats(): ImpairStats {
  return { offered: 0, passed: 0, lost: 0, duplicated: 0, corrupted: 0, reordered: 0, delayed: 0, queueDropped: 0 };
}

/** Stream numbers: fixed per (direction, impairment) so streams never overlap. */
const STREAM = { loss: 0, dup: 1, corrupt: 2, corruptBit: 3, reorder: 4, jitter: 5 } as const;
const STREAMS_PER_DIRECTION = 8;

type Deliver = (packet: Uint8Array) => void;

class ImpairedDirection {
  readonly stats = createImpairStats();
  readonly identity: boolean;
  private readonly lossRng: Prng;
  private readonly dupRng: Prng;
  private readonly corruptRng: Prng;
  private readonly corruptBitRng: Prng;
  private readonly reorderRng: Prng;
  private readonly jitterRng: Prng;
  /** Packets in the rate queue and the delay line. */
  private held = 0;
  /** When the serializer finishes the last queued packet. */
  private busyUntil = -Infinity;
  private readonly timers = new Set<Timer>();

  constructor(
    private readonly spec: ImpairDirection,
    seed: number,
    direction: number,
    private readonly scheduler: Scheduler,
  ) {
    this.identity = isIdentity(spec);
    const base = direction * STREAMS_PER_DIRECTION;
    this.lossRng = new Prng(seed, base + STREAM.loss);
    this.dupRng = new Prng(seed, base + STREAM.dup);
    this.corruptRng = new Prng(seed, base + STREAM.corrupt);
    this.corruptBitRng = new Prng(seed, base + STREAM.corruptBit);
    this.reorderRng = new Prng(seed, base + STREAM.reorder);
    this.jitterRng = new Prng(seed, base + STREAM.jitter);
  }

  /**
   * Impairs one packet. Packets due now are handed to `immediate`
   * synchronously (as the caller's view, or a copy if altered); later ones
   * are copied and handed to `later` from a scheduler callback.
   */
  process(packet: Uint8Array, immediate: Deliver, later: Deliver): void {
    const s = this.spec;
    const st = this.stats;
    st.offered++;
    // Draw every enabled stream once per packet before deciding anything.
    const lost = s.loss > 0 && this.lossRng.chance(s.loss);
    const dup = s.dup > 0 && this.dupRng.chance(s.dup);
    const corrupt = s.corrupt > 0 && this.corruptRng.chance(s.corrupt);
    const reorder = s.reorder > 0 && this.reorderRng.chance(s.reorder);
    const jitter = s.jitterMs > 0 ? (this.jitterRng.nextFloat() * 2 - 1) * s.jitterMs : 0;
    if (lost) {
      st.lost++;
      return;
    }
    let first = packet;
    if (corrupt && packet.length > 0) {
      // Corrupt a copy: the sender's buffer (maybe a retransmission queue) stays intact.
      first = packet.slice();
      const bit = this.corruptBitRng.nextInt(packet.length * 8);
      first[bit >>> 3]! ^= 0x80 >>> (bit & 7);
      st.corrupted++;
    }
    if (reorder) st.reordered++;
    this.emit(first, first !== packet, reorder, jitter, immediate, later);
    if (dup) {
      st.duplicated++;
      // The duplicate is the packet as sent, right behind the original.
      this.emit(packet.slice(), true, false, jitter, immediate, later);
    }
  }

  private emit(
    packet: Uint8Array,
    owned: boolean,
    reorder: boolean,
    jitter: number,
    immediate: Deliver,
    later: Deliver,
  ): void {
    const s = this.spec;
    const now = this.scheduler.now();
    let departure = now;
    if (s.rateBps > 0) {
      if (this.held >= s.limit) {
        this.stats.queueDropped++;
        return;
      }
      departure = Math.max(now, this.busyUntil) + (packet.length * 8 * 1000) / s.rateBps;
      this.busyUntil = departure;
    }
    const due = departure + Math.max(0, s.delayMs + jitter) + (reorder ? REORDER_HOLD_MS : 0);
    if (due <= now) {
      this.stats.passed++;
      immediate(packet);
      return;
    }
    if (s.rateBps === 0 && this.held >= s.limit) {
      this.stats.queueDropped++;
      return;
    }
    // The caller's view is only valid during this call (device read buffers).
    const bytes = owned ? packet : packet.slice();
    this.held++;
    this.stats.delayed++;
    const timer = this.scheduler.at(due, () => {
      this.timers.delete(timer);
      this.held--;
      this.stats.passed++;
      later(bytes);
    });
    this.timers.add(timer);
  }

  close(): void {
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    this.held = 0;
  }
}

export class ImpairedLink implements Link {
  readonly mtu: number;
  readonly spec: ImpairSpec;
  /** `out`: what the stack sends; `in`: what it receives. */
  readonly stats: { readonly in: ImpairStats; readonly out: ImpairStats };

  private readonly inDir: ImpairedDirection;
  private readonly outDir: ImpairedDirection;
  private handler: PacketBatchHandler | null = null;
  private closed = false;
  private readonly sendNow: Deliver;
  private readonly sendLater: Deliver;
  private readonly receiveLater: Deliver;

  constructor(
    private readonly inner: Link,
    scheduler: Scheduler,
    spec: ImpairSpec,
  ) {
    this.mtu = inner.mtu;
    this.spec = spec;
    this.inDir = new ImpairedDirection(spec.in, spec.seed, 0, scheduler);
    this.outDir = new ImpairedDirection(spec.out, spec.seed, 1, scheduler);
    this.stats = { in: this.inDir.stats, out: this.outDir.stats };
    this.sendNow = (p) => this.inner.send(p);
    this.sendLater = (p) => {
      if (!this.closed) this.inner.send(p);
    };
    this.receiveLater = (p) => {
      if (!this.closed) this.handler?.([p]);
    };
    inner.onPackets((batch, offload) => this.receive(batch, offload));
  }

  send(packet: Uint8Array): void {
    if (this.closed) return;
    if (this.outDir.identity) {
      this.outDir.stats.offered++;
      this.outDir.stats.passed++;
      this.inner.send(packet);
      return;
    }
    this.outDir.process(packet, this.sendNow, this.sendLater);
  }

  sendBatch(packets: readonly Uint8Array[]): void {
    if (this.closed) return;
    if (this.outDir.identity) {
      this.outDir.stats.offered += packets.length;
      this.outDir.stats.passed += packets.length;
      this.inner.sendBatch(packets);
      return;
    }
    for (const p of packets) this.outDir.process(p, this.sendNow, this.sendLater);
  }

  onPackets(handler: PacketBatchHandler): void {
    this.handler = handler;
  }

  close(): void {
    this.closed = true;
    this.handler = null;
    this.inDir.close();
    this.outDir.close();
    this.inner.close();
  }

  private receive(batch: readonly Uint8Array[], offload: ArrayLike<number> | undefined): void {
    const handler = this.handler;
    if (this.closed || handler === null) return;
    if (this.inDir.identity) {
      this.inDir.stats.offered += batch.length;
      this.inDir.stats.passed += batch.length;
      handler(batch, offload);
      return;
    }
    const now: Uint8Array[] = [];
    const keep = (p: Uint8Array): void => {
      now.push(p);
    };
    for (let i = 0; i < batch.length; i++) {
      const word = offload?.[i] ?? 0;
      if (word === 0) this.inDir.process(batch[i]!, keep, this.receiveLater);
      else for (const p of wirePackets(batch[i]!, word)) this.inDir.process(p, keep, this.receiveLater);
    }
    if (now.length > 0) handler(now);
  }
}
