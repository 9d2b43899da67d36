/**
 * Time as the I/O shell sees it. The sans-I/O core never uses this: the
 * drivers, the in-memory link and the impairment layer do. Two
 * implementations: real time (performance.now + setTimeout) and the virtual
 * scheduler that tests run on (src/link/virtual-scheduler.ts).
 */
export interface Timer {
  cancel(): void;
}

export interface Scheduler {
  /** Milliseconds from an arbitrary origin; monotonic. */
  now(): number;
  /** Runs `fn` at time `when` (or as soon as possible if it is already past). */
  at(when: number, fn: () => void): Timer;
}

export const realTimeScheduler: Scheduler = {
  now: () => performance.now(),
  at(when, fn) {
    // Whole milliseconds: Node keeps one timer list per distinct delay, and
    // fractional delays gave nearly every timer a list of its own. Rounding
    // up never fires before `when`.
    const handle = setTimeout(fn, Math.max(0, Math.ceil(when - performance.now())));
    return { cancel: () => clearTimeout(handle) };
  },
};
