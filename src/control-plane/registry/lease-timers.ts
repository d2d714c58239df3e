/**
 * One expiry timer per lease. Node keeps timers of equal duration in one list
 * behind a single OS timer, and `refresh()` moves a timer to the end of that
 * list in O(1), so 10,000 leases with the same TTL cost one kernel timer and a
 * heartbeat costs a pointer swap. Expiry is as precise as setTimeout (a few
 * ms), well inside the "TTL plus 100 ms" the registry promises.
 */
export class LeaseTimers {
  #timers = new Map<string, NodeJS.Timeout>();

  start(id: string, ms: number, onExpire: () => void): void {
    this.cancel(id);
    const timer = setTimeout(() => {
      this.#timers.delete(id);
      onExpire();
    }, ms);
    // The HTTP server keeps the process alive; a pending lease must not.
    timer.unref();
    this.#timers.set(id, timer);
  }

  /** Restart the lease's full TTL from now; false when the lease has no timer (expired or unknown). */
  renew(id: string): boolean {
    const timer = this.#timers.get(id);
    if (!timer) return false;
    timer.refresh();
    return true;
  }

  cancel(id: string): void {
    const timer = this.#timers.get(id);
    if (!timer) return;
    clearTimeout(timer);
    this.#timers.delete(id);
  }

  get size(): number {
    return this.#timers.size;
  }

  async close(): Promise<void> {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
