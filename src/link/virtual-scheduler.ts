/**
 * Virtual time for tests: nothing happens until the test advances the clock,
 * so a 2-minute TCP timeout runs in microseconds and every run is the same.
 */
import type { Scheduler, Timer } from './scheduler.ts';

interface Entry {
  time: number;
  /** Insertion order: events due at the same time run first-in first-out. */
  seq: number;
  fn: (() => void) | null;
}

const DEFAULT_MAX_EVENTS = 1_000_000;

export class VirtualScheduler implements Scheduler {
  private current: number;
  private seq = 0;
  /** Binary min-heap on (time, seq). Cancelled entries stay until popped or compacted. */
  private heap: Entry[] = [];
  private cancelled = 0;

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  /** Live (not cancelled, not yet run) events. */
  get pending(): number {
    return this.heap.length - this.cancelled;
  }

  /** Time of the earliest live event, or Infinity. */
  get nextEventTime(): number {
    this.dropCancelledTop();
    const top = this.heap[0];
    return top === undefined ? Infinity : top.time;
  }

  at(when: number, fn: () => void): Timer {
    if (Number.isNaN(when) || when === Infinity) throw new RangeError(`cannot schedule at ${when}`);
    const entry: Entry = { time: Math.max(when, this.current), seq: this.seq++, fn };
    this.push(entry);
    return {
      cancel: () => {
        if (entry.fn === null) return;
        entry.fn = null;
        this.cancelled++;
        // Lazy deletion keeps cancel O(1); compacting once half the heap is
        // dead keeps a timer re-armed on every packet from growing it.
        if (this.cancelled > 64 && this.cancelled * 2 > this.heap.length) this.compact();
      },
    };
  }

  /** Runs the earliest event, if any; returns false when there was none. */
  step(): boolean {
    this.dropCancelledTop();
    const entry = this.pop();
    if (entry === undefined) return false;
    const fn = entry.fn!;
    entry.fn = null;
    this.current = entry.time;
    fn();
    return true;
  }

  /** Moves time forward by `ms`, running every event due on the way. */
  advance(ms: number, maxEvents = DEFAULT_MAX_EVENTS): number {
    return this.runUntil(this.current + ms, maxEvents);
  }

  /**
   * Runs every event due at or before `t` (including ones scheduled while
   * running), then sets the clock to `t`. Returns the number of events run;
   * throws once `maxEvents` have run, so a livelock fails a test instead of
   * hanging it.
   */
  runUntil(t: number, maxEvents = DEFAULT_MAX_EVENTS): number {
    let count = 0;
    while (this.nextEventTime <= t) {
      if (count >= maxEvents) throw new Error(`VirtualScheduler: more than ${maxEvents} events before t=${t}`);
      this.step();
      count++;
    }
    if (t > this.current) this.current = t;
    return count;
  }

  /** Runs events until none is left; throws after `maxEvents` (see runUntil). */
  runUntilIdle(maxEvents = DEFAULT_MAX_EVENTS): number {
    let count = 0;
    while (this.pending > 0) {
      if (count >= maxEvents) throw new Error(`VirtualScheduler: still busy after ${maxEvents} events (livelock?)`);
      this.step();
      count++;
    }
    return count;
  }

  private dropCancelledTop(): void {
    while (this.heap.length > 0 && this.heap[0]!.fn === null) {
      this.pop();
      this.cancelled--;
    }
  }

  private compact(): void {
    const live = this.heap.filter((e) => e.fn !== null);
    this.heap = [];
    this.cancelled = 0;
    for (const e of live) this.push(e);
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Entry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(heap[r]!, heap[l]!) ? r : l;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
