import type { Link } from '../link/link.ts';
import type { Scheduler, Timer } from '../link/scheduler.ts';
import type { TcpApi } from '../tcp/api.ts';
import type { StackHost } from './host.ts';

/** The part of the sans-I/O core a driver needs. */
export interface DrivenCore {
  input(packet: Uint8Array, now: number, offload?: number): void;
  poll(now: number): void;
  nextDeadline(): number;
  /** Optional batching (Stack): see Stack.beginBatch / beginWrites. */
  beginBatch?(): void;
  endBatch?(now: number): void;
  beginWrites?(): void;
  endWrites?(): void;
  flushWrites?(): void;
}

/**
 * The I/O shell around the sans-I/O core: it feeds the core what the link
 * receives, owns the one timer that wakes the core at its next deadline, and
 * is the StackHost the socket layer talks through.
 *
 * Over a TUN device it runs on real time; in tests the same class runs on a
 * virtual scheduler and an in-memory link, so both take the same code paths.
 */
export class Driver implements StackHost {
  private timer: Timer | null = null;
  private armedAt = Infinity;
  private closed = false;

  constructor(
    private readonly core: DrivenCore,
    readonly tcp: TcpApi,
    private readonly link: Link,
    private readonly scheduler: Scheduler,
  ) {
    link.onPackets((packets, offload) => {
      if (this.closed) return;
      const now = scheduler.now();
      // One batch: pure ACKs coalesce to one per connection and everything
      // sent leaves in one sendBatch at the end (Stack.beginBatch).
      core.beginBatch?.();
      try {
        if (offload === undefined) for (const packet of packets) core.input(packet, now);
        else for (let i = 0; i < packets.length; i++) core.input(packets[i]!, now, offload[i]!);
      } finally {
        core.endBatch?.(now);
      }
      this.kick();
    });
  }

  now(): number {
    return this.scheduler.now();
  }

  /**
   * Re-arms the timer for the core's next deadline. Called after every batch,
   * every timer run, and by the socket layer after it used the core's API.
   */
  kick(): void {
    if (this.closed) return;
    const deadline = this.core.nextDeadline();
    if (deadline === this.armedAt) return;
    // A timer armed before a (finite) deadline stays: when it fires it polls
    // (finding nothing due yet) and re-arms for the earliest deadline then.
    // Re-arming whenever the deadline moved later cost a
    // clearTimeout/setTimeout pair per change, about three per short
    // connection. With no deadline at all it is cancelled, so that an idle
    // stack does not keep the process awake.
    if (this.timer !== null && this.armedAt < deadline && deadline !== Infinity) return;
    this.timer?.cancel();
    this.timer = null;
    this.armedAt = deadline;
    if (deadline === Infinity) return;
    this.timer = this.scheduler.at(deadline, () => this.onTimer(deadline));
  }

  /** Stops the timer and releases the link. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
    // Closed from inside a batch (a callback): what was sent so far still leaves.
    this.core.flushWrites?.();
    this.link.close();
  }

  private onTimer(deadline: number): void {
    this.timer = null;
    this.armedAt = Infinity;
    if (this.closed) return;
    // Node's timers have millisecond granularity and may fire a fraction of a
    // millisecond before the deadline by performance.now(); polling with the
    // deadline itself keeps a due timer from being re-armed in a tight loop.
    this.core.beginWrites?.();
    try {
      this.core.poll(Math.max(this.scheduler.now(), deadline));
    } finally {
      this.core.endWrites?.();
    }
    this.kick();
  }
}
