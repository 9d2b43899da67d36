/**
 * The connections that have a timer armed, ordered by their earliest
 * deadline: a binary min-heap, so that `Tcp.nextDeadline()` and
 * `Tcp.poll(now)` cost O(log n) per connection that is due, not O(n) per
 * call. With 100,000 idle connections each holding a keepalive or TIME-WAIT
 * timer, a scan of all of them after every batch of packets was the cost of
 * the whole stack; the heap keeps it at the few connections actually due.
 *
 * The heap holds at most one entry per item (its index lives on the item,
 * `timerSlot`), so memory is bounded by the number of connections, and an
 * item is removed when it is freed. What is stored is the item's deadline as
 * of when it was queued; the item's own `deadlineOf(item)` (for a connection,
 * `conn.timers.earliest()`) is the truth. The two may differ, lazily:
 *
 * - a deadline that moved **earlier** must be reported with `armed(item)`
 *   (every timer arming in timers.ts does), which moves the entry up at once:
 *   otherwise the timer would fire late;
 * - a deadline that moved **later** or was cancelled (a retransmission timer
 *   restarted by every ACK, a stopped timer) is not reported: the entry stays
 *   early and, when it reaches the top, is re-keyed to the true deadline (or
 *   dropped when there is none). Restarting a timer therefore costs nothing
 *   here, which matters on the data path, where every ACK restarts one.
 */

/** Something the queue can hold: the heap index is kept on the item itself. */
export interface TimerQueueItem {
  /** Index in the heap, -1 when not queued. Owned by the TimerQueue. */
  timerSlot: number;
}

export class TimerQueue<T extends TimerQueueItem> {
  private readonly items: T[] = [];
  /** keys[i] is the deadline items[i] was queued under (<= its true one, see above). */
  private readonly keys: number[] = [];
  private readonly deadlineOf: (item: T) => number;

  constructor(deadlineOf: (item: T) => number) {
    this.deadlineOf = deadlineOf;
  }

  /** Entries in the heap (some may be stale: their item has no deadline left). */
  get size(): number {
    return this.items.length;
  }

  /**
   * The item's deadline was set (possibly earlier than before): queue it, or
   * move its entry up. A later or absent deadline changes nothing now.
   */
  armed(item: T): void {
    const deadline = this.deadlineOf(item);
    if (deadline === Infinity) return;
    const i = item.timerSlot;
    if (i < 0) {
      const n = this.items.length;
      this.items.push(item);
      this.keys.push(deadline);
      item.timerSlot = n;
      this.siftUp(n);
    } else if (deadline < this.keys[i]!) {
      this.keys[i] = deadline;
      this.siftUp(i);
    }
  }

  /** Takes the item out of the queue (it is freed, or its timers are all cancelled). */
  remove(item: T): void {
    const i = item.timerSlot;
    if (i < 0) return;
    this.removeAt(i);
  }

  /**
   * The earliest true deadline of any queued item (Infinity if none). Stale
   * entries met at the top are re-keyed or dropped on the way.
   */
  peek(): number {
    for (;;) {
      if (this.items.length === 0) return Infinity;
      const top = this.items[0]!;
      const deadline = this.deadlineOf(top);
      const key = this.keys[0]!;
      if (deadline === key) return deadline;
      if (deadline === Infinity) {
        this.removeAt(0);
      } else {
        // Later than queued (lazy), or earlier without armed(): either way
        // the root is the place to fix it from.
        this.keys[0] = deadline;
        if (deadline > key) this.siftDown(0);
      }
    }
  }

  /**
   * Moves every item whose true deadline is <= now into `out`, earliest
   * first, taking it out of the queue: the caller then fires their timers
   * and calls `armed` again for each, so what they still have armed is
   * queued again. Collecting before firing means a timer re-armed at a
   * deadline <= now (an ACK due "now") waits for the next call: one call
   * always ends.
   */
  takeDue(now: number, out: T[]): void {
    for (;;) {
      const deadline = this.peek();
      // Infinity is "nothing queued", never due, even for now = Infinity.
      if (deadline > now || deadline === Infinity) return;
      const top = this.items[0]!;
      this.removeAt(0);
      out.push(top);
    }
  }

  private removeAt(i: number): void {
    const items = this.items;
    const keys = this.keys;
    const removed = items[i]!;
    removed.timerSlot = -1;
    const last = items.length - 1;
    const lastItem = items.pop()!;
    const lastKey = keys.pop()!;
    if (i === last) return;
    items[i] = lastItem;
    keys[i] = lastKey;
    lastItem.timerSlot = i;
    // The moved entry may belong above or below its new place.
    if (i > 0 && lastKey < keys[(i - 1) >> 1]!) this.siftUp(i);
    else this.siftDown(i);
  }

  private siftUp(i: number): void {
    const items = this.items;
    const keys = this.keys;
    const item = items[i]!;
    const key = keys[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pk = keys[parent]!;
      if (pk <= key) break;
      const p = items[parent]!;
      items[i] = p;
      keys[i] = pk;
      p.timerSlot = i;
      i = parent;
    }
    items[i] = item;
    keys[i] = key;
    item.timerSlot = i;
  }

  private siftDown(i: number): void {
    const items = this.items;
    const keys = this.keys;
    const n = items.length;
    const item = items[i]!;
    const key = keys[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && keys[right]! < keys[left]! ? right : left;
      const ck = keys[child]!;
      if (ck >= key) break;
      const c = items[child]!;
      items[i] = c;
      keys[i] = ck;
      c.timerSlot = i;
      i = child;
    }
    items[i] = item;
    keys[i] = key;
    item.timerSlot = i;
  }
}
