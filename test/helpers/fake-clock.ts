/** A clock the test moves by hand: timers fire, in order, only inside advance(). */
import type { Clock, Timer } from '../../src/core/clock.js';

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  cleared: boolean;
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Entry[] = [];
  #armWaiters: ((at: number) => void)[] = [];
  /** Every setTimeout ever made (to check "one timer per call"). */
  created = 0;

  constructor(start = 1_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const e: Entry = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cleared: false };
    this.#timers.push(e);
    this.created++;
    const waiters = this.#armWaiters;
    this.#armWaiters = [];
    for (const w of waiters) w(e.at);
    const timer: Timer = {
      clear: () => {
        e.cleared = true;
      },
      unref: () => timer,
    };
    return timer;
  }

  /**
   * Resolves with the due time of the next timer armed after this call. Code that works asynchronously
   * between its timers (a renewal signs a CSR) arms the next one when it is done with this step: the
   * test's cue to move on, and the delay it chose.
   */
  nextTimer(): Promise<number> {
    return new Promise((resolve) => this.#armWaiters.push(resolve));
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cleared).length;
  }

  /** Move time forward by `ms`, firing every timer due on the way at its own instant. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cleared);
      let next: Entry | undefined;
      for (const t of this.#timers) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.#now = Math.max(this.#now, next.at);
      next.cleared = true;
      next.fn();
    }
    this.#now = end;
  }
}
