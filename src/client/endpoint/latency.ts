/**
 * Peak EWMA of an endpoint's latency (time to response headers), as Finagle
 * and Linkerd keep it: a sample above the estimate replaces it at once (the
 * "peak": a slow endpoint is noticed on its first slow answer), a lower one is
 * blended in with a weight that grows with the time since the last update
 * (but never below MIN_SAMPLE_WEIGHT, our departure), and the estimate decays
 * towards zero while the endpoint is not chosen, so an endpoint that was slow
 * once is tried again eventually.
 *
 * Settings are per destination (Service.spec.peakEwma); the state lives on the
 * endpoint so it survives a balancer switch.
 */
import { resolveServiceSpec, type PeakEwmaSpec } from '../../config/resources.js';

export interface EwmaSettings {
  /** Estimate before the first sample, ms (Linkerd: 30). */
  defaultRttMs: number;
  /** Time constant of the decay, ms (Finagle/Linkerd: 10 s). */
  decayMs: number;
}

/** Service.spec.peakEwma (its defaults filled in by the schema) in the estimate's units. */
export function ewmaSettings(spec: PeakEwmaSpec): EwmaSettings {
  return { defaultRttMs: spec.defaultRtt, decayMs: spec.decay };
}

let noSpecEwma: EwmaSettings | undefined;

/**
 * An endpoint's settings until its set applies its destination's policy: those of a service with no
 * Service resource, from the schema (one object, made on first use).
 */
function settingsWithoutSpec(): EwmaSettings {
  return (noSpecEwma ??= ewmaSettings(resolveServiceSpec(null).peakEwma));
}

/**
 * The least weight a sample below the estimate gets. With weights from time
 * alone (tower, Finagle), a busy endpoint's samples arrive every fraction of a
 * millisecond and each moves the estimate by ~1/50,000: one latency spike (a
 * GC pause in this process inflates every endpoint's samples at once) then
 * holds for the whole decay time, every estimate sits at the last spike, and
 * a truly slow endpoint no longer stands out (bench/lb-slow-endpoint: 1.3 %
 * of requests to the 20 ms slower instance, against 0.1 % with this floor).
 * With it, a spike is forgotten after about 50 samples under load; an idle or
 * lightly used endpoint still decays on the 10 s clock.
 */
const MIN_SAMPLE_WEIGHT = 0.02;

export class LatencyEwma {
  settings: EwmaSettings = settingsWithoutSpec();
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
        const w = Math.min(Math.exp(-(now - this.#at) / this.settings.decayMs), 1 - MIN_SAMPLE_WEIGHT);
        this.#rtt = current * w + rttMs * (1 - w);
      }
    }
    this.#at = now;
  }

  get sampled(): boolean {
    return this.#rtt >= 0;
  }
}
