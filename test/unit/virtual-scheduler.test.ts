import { describe, expect, it } from 'vitest';
import { VirtualScheduler } from '../../src/link/virtual-scheduler.ts';

describe('VirtualScheduler', () => {
  it('runs events in time order, and in insertion order at equal times', () => {
    const s = new VirtualScheduler();
    const log: string[] = [];
    s.at(30, () => log.push('c@30'));
    s.at(10, () => log.push('a@10'));
    s.at(20, () => log.push('b1@20'));
    s.at(20, () => log.push('b2@20'));
    s.at(10, () => log.push('a2@10'));
    expect(s.pending).toBe(5);
    expect(s.runUntilIdle()).toBe(5);
    expect(log).toEqual(['a@10', 'a2@10', 'b1@20', 'b2@20', 'c@30']);
    expect(s.now()).toBe(30);
    expect(s.pending).toBe(0);
  });

  it('keeps insertion order among many equal-time events (heap stability)', () => {
    const s = new VirtualScheduler();
    const log: number[] = [];
    for (let i = 0; i < 200; i++) s.at(i % 3, () => log.push(i));
    s.runUntilIdle();
    const expected = [0, 1, 2].flatMap((t) => Array.from({ length: 200 }, (_, i) => i).filter((i) => i % 3 === t));
    expect(log).toEqual(expected);
  });

  it('sets now to the event time while it runs', () => {
    const s = new VirtualScheduler(100);
    const seen: number[] = [];
    s.at(150, () => seen.push(s.now()));
    s.at(120.5, () => seen.push(s.now()));
    s.runUntilIdle();
    expect(seen).toEqual([120.5, 150]);
  });

  it('advance runs what is due and moves the clock to the target', () => {
    const s = new VirtualScheduler();
    const log: number[] = [];
    s.at(5, () => log.push(5));
    s.at(15, () => log.push(15));
    expect(s.advance(10)).toBe(1);
    expect(log).toEqual([5]);
    expect(s.now()).toBe(10);
    expect(s.nextEventTime).toBe(15);
    s.advance(5);
    expect(log).toEqual([5, 15]);
    expect(s.now()).toBe(15);
    s.runUntil(12);
    expect(s.now()).toBe(15); // time never goes back
  });

  it('runs events scheduled during a run when they are due before the target', () => {
    const s = new VirtualScheduler();
    const log: number[] = [];
    s.at(1, () => {
      log.push(1);
      s.at(2, () => log.push(2));
      s.at(50, () => log.push(50));
    });
    s.runUntil(10);
    expect(log).toEqual([1, 2]);
    expect(s.pending).toBe(1);
  });

  it('runs an event scheduled in the past as soon as possible, at the current time', () => {
    const s = new VirtualScheduler(100);
    let at = -1;
    s.at(40, () => (at = s.now()));
    s.runUntilIdle();
    expect(at).toBe(100);
  });

  it('cancel removes an event; cancelling twice or after it ran is harmless', () => {
    const s = new VirtualScheduler();
    const log: string[] = [];
    const t1 = s.at(1, () => log.push('t1'));
    const t2 = s.at(2, () => log.push('t2'));
    s.at(3, () => log.push('t3'));
    t2.cancel();
    t2.cancel();
    expect(s.pending).toBe(2);
    s.runUntilIdle();
    t1.cancel();
    expect(log).toEqual(['t1', 't3']);
    expect(s.pending).toBe(0);
  });

  it('an event can cancel a later one', () => {
    const s = new VirtualScheduler();
    const log: string[] = [];
    const later = s.at(5, () => log.push('later'));
    s.at(1, () => later.cancel());
    s.runUntilIdle();
    expect(log).toEqual([]);
  });

  it('stays small when a timer is re-armed many times (compaction)', () => {
    const s = new VirtualScheduler();
    let timer = s.at(1000, () => {});
    let fired = 0;
    for (let i = 0; i < 10_000; i++) {
      timer.cancel();
      timer = s.at(1000 + i, () => fired++);
    }
    expect(s.pending).toBe(1);
    expect(s.runUntilIdle()).toBe(1);
    expect(fired).toBe(1);
    expect(s.now()).toBe(1000 + 9999);
  });

  it('runUntilIdle throws on a livelock instead of hanging', () => {
    const s = new VirtualScheduler();
    const loop = (): void => {
      s.at(s.now(), loop);
    };
    s.at(0, loop);
    expect(() => s.runUntilIdle(1000)).toThrow(/1000 events/);
    const t = new VirtualScheduler();
    const tick = (): void => {
      t.at(t.now() + 1, tick);
    };
    t.at(0, tick);
    expect(() => t.runUntil(1e9, 500)).toThrow(/500 events/);
  });

  it('refuses NaN and Infinity', () => {
    const s = new VirtualScheduler();
    expect(() => s.at(NaN, () => {})).toThrow(RangeError);
    expect(() => s.at(Infinity, () => {})).toThrow(RangeError);
  });

  it('orders a random workload exactly as a stable sort would', () => {
    const s = new VirtualScheduler();
    const events: { t: number; i: number }[] = [];
    const log: number[] = [];
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const t = x % 97;
      events.push({ t, i });
      s.at(t, () => log.push(i));
    }
    s.runUntilIdle();
    expect(log).toEqual([...events].sort((a, b) => a.t - b.t || a.i - b.i).map((e) => e.i));
  });
});
