/**
 * Peak EWMA of an endpoint's latency (time to response headers), as Finagle
 * and Linkerd keep it: a sample above the estimate replaces it at once (the
 * "peak": a slow endpoint is noticed on its first slow answer), a lower one is
 * blended in with a weight that grows with the time since the last update, and
 * the estimate decays towards zero while the endpoint is not chosen, so an
 * endpoint that was slow once is tried again eventually.
 *
 * Settings are per destination (Service.spec.peakEwma); the state lives on the
 * endpoint so it survives a balancer switch.
 */
export interface EwmaSettings {
  /** Estimate before the first sample, ms (Linkerd: 30). */
  defaultRttMs: number;
  /** Time constant of the decay, ms (Finagle/Linkerd: 10 s). */
  decayMs: number;
}

export const DEFAULT_EWMA: EwmaSettings = { defaultRttMs: 30, decayMs: 10_000 };

export class LatencyEwma {
  settings: EwmaSettings = DEFAULT_EWMA;
  /** Current estimate in ms; negative until the first sample. */
  #rtt = -1;
  /**
   * performance.now() of the last update; creation for a new endpoint, whose
   * default estimate decays like any other (as in tower), so that an endpoint
   * never chosen is eventually tried.
   */
  #at = performance.now();

  /** The estimate at `now`, decayed since the last update (not stored: reading must not change it). */
  estimate(now: number): number {
    const rtt = this.#rtt < 0 ? this.settings.defaultRttMs : this.#rtt;
    const elapsed = now - this.#at;
    return elapsed <= 0 ? rtt : rtt * Math.exp(-elapsed / this.settings.decayMs);
  }

  observe(rttMs: number, now: number): void {
    if (this.#rtt < 0) {
      // The first sample replaces the default outright, whichever is larger: it is a measurement, the default a guess.
      this.#rtt = rttMs;
    } else {
      const current = this.estimate(now);
      if (rttMs > current) {
        this.#rtt = rttMs;
      } else {
        const w = Math.exp(-(now - this.#at) / this.settings.decayMs);
        this.#rtt = current * w + rttMs * (1 - w);
      }
    }
    this.#at = now;
  }

  get sampled(): boolean {
    return this.#rtt >= 0;
  }
}
