// The stack's timer queue (src/tcp/timer-queue.ts): a min-heap of items by
// deadline, one entry per item at most, exact when a deadline moves earlier
// (armed) and lazy when it moves later or is cancelled.
import { describe, expect, it } from 'vitest';
import { Prng } from '../../src/link/prng.ts';
import { TimerQueue } from '../../src/tcp/timer-queue.ts';

/** A stand-in for a connection: its true deadline, which the test moves at will. */
interface Item {
  name: string;
  deadline: number;
  timerSlot: number;
}

function item(name: string, deadline = Infinity): Item {
  return { name, deadline, timerSlot: -1 };
}

function newQueue(): TimerQueue<Item> {
  return new TimerQueue<Item>((i) => i.deadline);
}

function takeDue(q: TimerQueue<Item>, now: number): string[] {
  const out: Item[] = [];
  q.takeDue(now, out);
  return out.map((i) => i.name);
}

describe('TimerQueue', () => {
  it('hands out due items earliest first and reports the next deadline', () => {
    const q = newQueue();
    const items = [item('c', 300), item('a', 100), item('d', 400), item('b', 200)];
    for (const i of items) q.armed(i);
    expect(q.peek()).toBe(100);
    expect(takeDue(q, 250)).toEqual(['a', 'b']);
    expect(q.peek()).toBe(300);
    expect(takeDue(q, 1000)).toEqual(['c', 'd']);
    expect(q.peek()).toBe(Infinity);
    expect(q.size).toBe(0);
    // Taken items are no longer queued.
    for (const i of items) expect(i.timerSlot).toBe(-1);
  });

  it('keeps one entry per item however often it is armed', () => {
    const q = newQueue();
    const a = item('a', 500);
    for (let t = 500; t > 0; t -= 50) {
      a.deadline = t;
      q.armed(a);
    }
    q.armed(a);
    expect(q.size).toBe(1);
    expect(q.peek()).toBe(50);
  });

  it('moves an entry up at once when its deadline moves earlier', () => {
    const q = newQueue();
    const a = item('a', 100);
    const b = item('b', 900);
    q.armed(a);
    q.armed(b);
    b.deadline = 50;
    q.armed(b);
    expect(q.peek()).toBe(50);
    expect(takeDue(q, 60)).toEqual(['b']);
  });

  it('finds a postponed deadline lazily: the early entry is re-keyed, never handed out early', () => {
    const q = newQueue();
    const a = item('a', 100);
    const b = item('b', 200);
    q.armed(a);
    q.armed(b);
    // Restarted later without telling the queue (a retransmission timer on every ACK).
    a.deadline = 300;
    expect(takeDue(q, 150)).toEqual([]);
    expect(q.peek()).toBe(200);
    expect(takeDue(q, 250)).toEqual(['b']);
    expect(q.peek()).toBe(300);
    expect(takeDue(q, 300)).toEqual(['a']);
  });

  it('drops a cancelled item when it reaches the top, and remove() takes one out at once', () => {
    const q = newQueue();
    const a = item('a', 100);
    const b = item('b', 200);
    const c = item('c', 300);
    for (const i of [a, b, c]) q.armed(i);
    a.deadline = Infinity;
    expect(q.peek()).toBe(200);
    expect(q.size).toBe(2);
    expect(a.timerSlot).toBe(-1);
    q.remove(c);
    expect(c.timerSlot).toBe(-1);
    expect(q.size).toBe(1);
    q.remove(c); // not queued: nothing happens
    expect(takeDue(q, Infinity)).toEqual(['b']);
  });

  it('ignores arming an item without a deadline', () => {
    const q = newQueue();
    q.armed(item('a'));
    expect(q.size).toBe(0);
    expect(q.peek()).toBe(Infinity);
  });

  it('agrees with a naive model under random arming, postponing, cancelling and removal', () => {
    const rng = new Prng(20261126);
    const items = Array.from({ length: 300 }, (_, k) => item(`i${k}`));
    const q = newQueue();
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      const it = items[rng.nextInt(items.length)]!;
      const op = rng.nextInt(10);
      if (op < 4) {
        // Arm a timer: the earliest of the old deadline and the new one, as ConnectionTimers does.
        it.deadline = Math.min(it.deadline, now + 1 + rng.nextInt(1000));
        q.armed(it);
      } else if (op < 6) {
        // Postpone without telling the queue (allowed: lazy).
        if (it.deadline !== Infinity) it.deadline += 1 + rng.nextInt(500);
      } else if (op === 6) {
        it.deadline = Infinity; // cancelled, not reported
      } else if (op === 7) {
        it.deadline = Infinity;
        q.remove(it); // freed
      } else {
        now += rng.nextInt(200);
        const expected = items.filter((i) => i.deadline <= now).sort((x, y) => x.deadline - y.deadline);
        const out: Item[] = [];
        q.takeDue(now, out);
        expect(out.map((i) => i.name).sort()).toEqual(expected.map((i) => i.name).sort());
        // Earliest first.
        for (let k = 1; k < out.length; k++) expect(out[k]!.deadline).toBeGreaterThanOrEqual(out[k - 1]!.deadline);
        // The caller fires them (here: no timer left) and re-arms; nothing stays behind.
        for (const i of out) {
          i.deadline = rng.chance(0.5) ? Infinity : now + 1 + rng.nextInt(1000);
          q.armed(i);
        }
      }
      // Bounded: never more entries than items, and the next deadline is exact.
      expect(q.size).toBeLessThanOrEqual(items.length);
      const truth = Math.min(...items.map((i) => i.deadline));
      expect(q.peek()).toBe(truth);
    }
  });
});
