/**
 * A timer made once and refreshed while its period stays the same: a refresh moves it in Node's timer list, a
 * new one is an allocation and a clear. One that fired in a phase it does not apply to does nothing, and the
 * next arm schedules it again (refresh() on a fired timer re-arms it). A period of 0 (or not finite): off.
 */
export class ReusedTimer {
  ms = 0;
  #t: NodeJS.Timeout | undefined;
  readonly #fire: () => void;
  constructor(fire: () => void) {
    this.#fire = fire;
  }
  arm(ms: number): void {
    if (ms <= 0 || !Number.isFinite(ms)) {
      this.ms = 0;
      return;
    }
    if (this.#t !== undefined && this.ms === ms) {
      this.#t.refresh();
      return;
    }
    if (this.#t !== undefined) clearTimeout(this.#t);
    this.ms = ms;
    this.#t = setTimeout(this.#fire, ms);
    this.#t.unref();
  }
  clear(): void {
    if (this.#t !== undefined) clearTimeout(this.#t);
    this.#t = undefined;
  }
}
