/** Time as a dependency, so that layers with timers can be tested with a fake clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
}

export interface Timer {
  clear(): void;
  unref(): Timer;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    const timer: Timer = {
      clear: () => clearTimeout(t),
      unref: () => {
        t.unref();
        return timer;
      },
    };
    return timer;
  },
};
