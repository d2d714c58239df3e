/**
 * Outlier detection of one service, wired to its endpoint views: the
 * detector (Service.spec.outlierDetection; rebuilt when that part changes),
 * the timers that take an ejected endpoint back into the views for its trial
 * request and end a trial that never answers, and who is told of ejections
 * and returns.
 *
 * Health feeds EndpointSet.updateHealth(), so every subset and locality view
 * leaves an ejected endpoint out — within the detector's rules: at most
 * maxEjectionPercent ejected (always one allowed), and below panicThreshold
 * healthy every endpoint is back in the views (panic).
 */
import type { Disposer } from '../../core/events.js';
import type { Logger } from '../../core/logger.js';
import { tellOnce, type ResilienceHooks } from '../../resilience/hooks.js';
import { OutlierDetector, type EjectionEvent, type EndpointHealth, type OutlierDetectionOptions } from '../../resilience/outlier-detector.js';
import type { EndpointSet } from './endpoint-set.js';

export class OutlierHealth {
  /** The detector in force; undefined when outlier detection is disabled. */
  detector: OutlierDetector | undefined = undefined;
  readonly #endpoints: EndpointSet;
  readonly #service: { readonly name: string; readonly namespace: string };
  readonly #hooks: ResilienceHooks;
  readonly #logger: Logger;
  #disposers: Disposer[] = [];
  #timers = new Set<NodeJS.Timeout>();
  #hookWarned = new Set<string>();
  #closed = false;

  constructor(service: { readonly name: string; readonly namespace: string }, endpoints: EndpointSet, hooks: ResilienceHooks, logger: Logger) {
    this.#service = service;
    this.#endpoints = endpoints;
    this.#hooks = hooks;
    this.#logger = logger;
  }

  /** A new detector (or none, `options` undefined): every endpoint starts healthy under it. */
  replace(options: Partial<OutlierDetectionOptions> | undefined): void {
    this.#stop();
    for (const ep of this.#endpoints.list) {
      ep.health?.release();
      ep.health = undefined;
    }
    const d = options === undefined ? undefined : new OutlierDetector(options, () => this.#endpoints.size);
    this.detector = d;
    if (d !== undefined) {
      this.#disposers.push(
        d.onEjection((e) => this.#onEjection(e)),
        d.onReturn((h) => this.#onReturn(h)),
        d.onTrial((h) => this.#onTrial(h, d.options.trialTimeoutMs)),
      );
    }
    this.sync();
  }

  /**
   * Outlier state -> the views: an ejected endpoint is left out of every
   * subset and locality view; one whose ejection is over is back in them for
   * its single trial request (the balancer steps past it while the trial is in
   * flight: `available`); in panic every endpoint is in.
   */
  sync(): void {
    const d = this.detector;
    const panic = d !== undefined && d.panicking;
    this.#endpoints.updateHealth((ep) => panic || ep.health === undefined || ep.health.state !== 'ejected');
  }

  close(): void {
    this.#closed = true;
    this.#stop();
  }

  #stop(): void {
    for (const d of this.#disposers) d();
    this.#disposers = [];
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) fn();
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  #onEjection(e: EjectionEvent): void {
    this.sync();
    // The detector has no timer (expiry is read lazily); the views need one to take the endpoint back
    // for its trial request when the ejection ends.
    this.#after(e.durationMs + 1, () => this.sync());
    const onEjection = this.#hooks.onEjection;
    if (onEjection === undefined) return;
    const s = this.#service;
    this.#tell('onEjection', () =>
      onEjection.call(this.#hooks, {
        destination: s.name,
        namespace: s.namespace,
        endpoint: e.health.label,
        reason: e.trial ? 'failed-trial' : 'consecutive-failures',
        durationMs: e.durationMs,
        multiplier: e.multiplier,
      }),
    );
  }

  /** A trial that never answers must not keep its endpoint out (and under the ejection cap) for ever. */
  #onTrial(h: EndpointHealth, timeoutMs: number): void {
    this.#after(timeoutMs + 1, () => h.expireTrial());
  }

  #onReturn(h: EndpointHealth): void {
    this.sync();
    const onReturn = this.#hooks.onReturn;
    if (onReturn === undefined) return;
    const s = this.#service;
    this.#tell('onReturn', () => onReturn.call(this.#hooks, { destination: s.name, namespace: s.namespace, endpoint: h.label }));
  }

  /**
   * Ejections and returns are told from inside an attempt's outcome report, before the attempt is handed up
   * (see tellOnce). A mesh's hooks already catch (src/mesh/resilience-hooks.ts); this holds for any others.
   */
  #tell(name: string, fn: () => void): void {
    const s = this.#service;
    tellOnce(this.#hookWarned, name, fn, (hook, err) =>
      this.#logger.warn(`hyphae: the ${hook} hook threw; its error is ignored (logged once)`, {
        service: `${s.namespace}/${s.name}`,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
  }
}
