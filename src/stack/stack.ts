/**
 * The top of the sans-I/O core: the IP layer. Packets and `now` go in through
 * `input`/`poll`; packets come out synchronously through `transmit`; the
 * driver asks `nextDeadline` when to call `poll` next. No clock, no device,
 * no timer in here (see docs/architecture.md, "The sans-I/O core").
 */
import type { Ipv4Address } from '../ip/address.ts';
import {
  ICMP_ECHO_REQUEST,
  ICMP_UNREACH_PROTOCOL,
  buildDestinationUnreachable,
  buildEchoReply,
  checkIcmp,
  isUnicastAddress,
  mayAnswerWithIcmpError,
} from '../ip/icmp.ts';
import { IP_PROTOCOL_ICMP } from '../ip/ipv4-header.ts';
import { Ipv4View, checkIpv4 } from '../ip/ipv4.ts';
import { createIpStats, type IpStats } from './stats.ts';
import type { TransportLayer } from './transport.ts';

export interface StackConfig {
  /** Our one IPv4 address; packets to any other destination are dropped. */
  address: Ipv4Address;
}

/**
 * Where packets leave the core, with their offload word (src/link/offload.ts;
 * 0 for an ordinary packet). Called synchronously; `packet` is only valid
 * during the call (the caller may reuse it), so a target that queues it must
 * copy it. It must not call back into `Stack.input` synchronously.
 */
export type Transmit = (packet: Uint8Array, offload: number) => void;

/**
 * Where a batch of packets leaves the core (one `Link.sendBatch`), offload
 * words parallel to the packets: same ownership rule as `Transmit`, for the
 * arrays and every packet.
 */
export type TransmitBatch = (packets: readonly Uint8Array[], offload: readonly number[]) => void;

export class Stack {
  readonly address: Ipv4Address;
  readonly stats: IpStats = createIpStats();

  private readonly transmitFn: Transmit;
  private readonly byProtocol: (TransportLayer | undefined)[] = new Array<TransportLayer | undefined>(256);
  private readonly transports: TransportLayer[] = [];
  /** One view reused for every packet: the input path allocates nothing for parsing. */
  private readonly view = new Ipv4View();
  private inputDepth = 0;
  private readonly transmitBatchFn: TransmitBatch;
  /**
   * Packets collected between beginWrites() and endWrites(), handed to the
   * link in one batch. Safe to hold: every packet the core sends is a buffer
   * of its own, allocated for that packet (nothing reuses it).
   */
  private pending: Uint8Array[] | null = null;
  /** Offload words of `pending`, in step with it. */
  private pendingOffload: number[] = [];
  private writeDepth = 0;

  constructor(config: StackConfig, transmit: Transmit, transmitBatch?: TransmitBatch) {
    this.address = config.address >>> 0;
    this.transmitFn = transmit;
    this.transmitBatchFn =
      transmitBatch ??
      ((packets, offload) => {
        for (let i = 0; i < packets.length; i++) transmit(packets[i]!, offload[i]!);
      });
  }

  /**
   * From here to the matching endWrites(), outgoing packets are collected
   * and leave in one transmitBatch at the end (one JS→C crossing for the
   * TUN device instead of one per packet). The driver brackets a timer poll
   * with it; beginBatch() implies it.
   */
  beginWrites(): void {
    if (this.writeDepth++ === 0) {
      this.pending = [];
      this.pendingOffload = [];
    }
  }

  endWrites(): void {
    if (this.writeDepth === 0 || --this.writeDepth > 0) return;
    const out = this.pending;
    this.pending = null;
    this.transmitCollected(out, this.pendingOffload);
  }

  /** Sends what was collected so far (the driver closes the link mid-batch); collecting goes on. */
  flushWrites(): void {
    if (this.pending === null) return;
    const out = this.pending;
    const offload = this.pendingOffload;
    this.pending = [];
    this.pendingOffload = [];
    this.transmitCollected(out, offload);
  }

  private transmitCollected(out: Uint8Array[] | null, offload: number[]): void {
    if (out === null || out.length === 0) return;
    if (out.length === 1) this.transmitFn(out[0]!, offload[0]!);
    else this.transmitBatchFn(out, offload);
  }

  /**
   * A batch of input() calls (packets read together) starts: writes are
   * collected (beginWrites) and each transport may defer its pure ACKs to
   * endBatch (Tcp: ACK coalescing). Outside a batch nothing is deferred.
   */
  beginBatch(): void {
    this.beginWrites();
    for (const t of this.transports) t.beginBatch?.();
  }

  /** Ends the batch: the transports send what they deferred, then every collected packet leaves. */
  endBatch(now: number): void {
    try {
      for (const t of this.transports) t.endBatch?.(now);
    } finally {
      this.endWrites();
    }
  }

  /**
   * Registers the handler for one IP protocol number. ICMP belongs to the IP
   * layer itself, and each protocol has one owner.
   */
  addTransport(transport: TransportLayer): void {
    const p = transport.protocol;
    if (!Number.isInteger(p) || p < 0 || p > 255) throw new RangeError(`invalid IP protocol number ${p}`);
    if (p === IP_PROTOCOL_ICMP) throw new Error('ICMP (protocol 1) is handled by the IP layer');
    if (this.byProtocol[p] !== undefined) throw new Error(`a transport for IP protocol ${p} is already registered`);
    this.byProtocol[p] = transport;
    this.transports.push(transport);
  }

  /**
   * The one way out of the core, for the IP layer and for transports alike:
   * a transport builds a whole IPv4 packet and calls `stack.send(packet)`,
   * so `ipPacketsOut` counts everything that left. Unlike `Transmit`, the
   * buffer is handed over: between beginWrites() and endWrites() the Stack
   * keeps it until the end of the batch, so a caller must not reuse it
   * (every sender in the core allocates a fresh packet). `offload`: the
   * packet's offload word (a TCP super-packet, a partial checksum), which
   * only a transport that saw `offloadMaxSize` > 0 sets.
   */
  send(packet: Uint8Array, offload = 0): void {
    this.stats.ipPacketsOut++;
    if (this.pending !== null) {
      this.pending.push(packet);
      this.pendingOffload.push(offload);
    } else {
      this.transmitFn(packet, offload);
    }
  }

  /**
   * One raw IP packet arrived. Never throws on malformed input: every refusal
   * is a counter in `stats`. `packet` is only read during the call;
   * `offload` is the word the link delivered it with (src/link/offload.ts).
   */
  input(packet: Uint8Array, now: number, offload = 0): void {
    const stats = this.stats;
    stats.ipPacketsIn++;
    if (packet.length > 0 && packet[0]! >>> 4 === 6) {
      stats.ipv6Dropped++;
      return;
    }
    const bad = checkIpv4(packet);
    if (bad !== null) {
      stats.ipDropped[bad]++;
      return;
    }
    // A synchronous loop back into input() (a driver bug, but cheap to
    // survive) must not clobber the view an outer transport is still reading.
    const view = this.inputDepth === 0 ? this.view.reset(packet, offload) : new Ipv4View(packet, offload);
    if (view.dst !== this.address) {
      stats.ipDropped['not-for-us']++;
      return;
    }
    this.inputDepth++;
    try {
      const protocol = view.protocol;
      if (protocol === IP_PROTOCOL_ICMP) {
        stats.ipDelivered++;
        this.icmpInput(view);
        return;
      }
      const transport = this.byProtocol[protocol];
      if (transport === undefined) {
        stats.ipDropped['no-transport']++;
        // RFC 1122 §3.2.2.1: a host SHOULD send protocol-unreachable.
        if (mayAnswerWithIcmpError(view)) {
          this.send(buildDestinationUnreachable(view, this.address, ICMP_UNREACH_PROTOCOL));
          stats.icmpProtocolUnreachableSent++;
        }
        return;
      }
      stats.ipDelivered++;
      transport.input(view, now);
    } finally {
      this.inputDepth--;
    }
  }

  /** Runs every transport's due timers. */
  poll(now: number): void {
    for (const t of this.transports) t.poll(now);
  }

  /** Earliest time `poll` has work, or Infinity. */
  nextDeadline(): number {
    let next = Infinity;
    for (const t of this.transports) {
      const d = t.nextDeadline();
      if (d < next) next = d;
    }
    return next;
  }

  private icmpInput(view: Ipv4View): void {
    const stats = this.stats;
    stats.icmpIn++;
    const message = view.payload;
    if (checkIcmp(message) !== null) {
      stats.icmpDropped++;
      return;
    }
    // RFC 1122 §3.2.2.6: answer echo requests; code must be 0 (RFC 792).
    // A non-unicast source cannot be answered (§3.2.2), only ignored.
    if (message[0] === ICMP_ECHO_REQUEST && message[1] === 0) {
      stats.icmpEchoRequests++;
      if (isUnicastAddress(view.src)) {
        this.send(buildEchoReply(view, this.address));
        stats.icmpEchoRepliesSent++;
        return;
      }
    }
    stats.icmpIgnored++;
  }
}
