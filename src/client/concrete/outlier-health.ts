/**
 * Outlier detection of one service, wired to its endpoint views: the
 * detector (Service.spec.outlierDetection; rebuilt when that part changes),
 * the timers that take an ejected endpoint back into the views for its trial
 * request and end a trial that never answers, and the `ejection` / `return`
 * events it emits into the mesh's sink.
 *
 * Health feeds EndpointSet.updateHealth(), so every subset and locality view
 * leaves an ejected endpoint out — within the detector's rules: at most
 * maxEjectionPercent ejected (always one allowed), and below panicThreshold
 * healthy every endpoint is back in the views (panic), unless the tiers carry
 * every pick without the ejected ones (a healthy failover cluster).
 */
import { systemClock } from '../../core/clock.js';
import type { Disposer, EventSink } from '../../core/events.js';
import type { MeshEvents } from '../../resilience/hooks.js';
import { OutlierDetector, type EjectionEvent, type EndpointHealth, type HealthOutcome, type OutlierDetectionOptions } from '../../resilience/outlier-detector.js';
import type { OutlierJudge } from './backend-service.js';
import type { EndpointSet } from './endpoint-set.js';
import { NO_CLUSTERS, totalHealth } from './tiers.js';

/** `C`: the call type events are told with (the client's MeshCall); this tier only passes it on. */
export class OutlierHealth<C = unknown> implements OutlierJudge {
  /** The detector in force; undefined when outlier detection is disabled. */
  detector: OutlierDetector | undefined = undefined;
  readonly #endpoints: EndpointSet;
  readonly #service: { readonly name: string; readonly namespace: string };
  readonly #events: EventSink<MeshEvents, C>;
  #disposers: Disposer[] = [];
  #timers = new Set<NodeJS.Timeout>();
  /** The call whose attempt is being reported: an ejection it causes is told with it. */
  #reporting: C | undefined = undefined;
  #closed = false;

  constructor(service: { readonly name: string; readonly namespace: string }, endpoints: EndpointSet, events: EventSink<MeshEvents, C>) {
    this.#service = service;
    this.#endpoints = endpoints;
    this.#events = events;
  }

  /** The endpoint's health record under the detector in force; undefined when outlier detection is off. */
  track(id: string): EndpointHealth | undefined {
    return this.detector?.track(id);
  }

  /** An attempt of `call` ended with `outcome` on the endpoint of `health` (the detector's events fire inside). */
  report(call: unknown, health: EndpointHealth, outcome: HealthOutcome): void {
    this.#reporting = call as C;
    try {
      health.report(outcome);
    } finally {
      this.#reporting = undefined;
    }
  }

  /** A new detector (or none, `options` undefined): every endpoint starts healthy under it. */
  replace(options: OutlierDetectionOptions | undefined): void {
    this.#stop();
    for (const ep of this.#endpoints.list) {
      ep.health?.release();
      ep.health = undefined;
    }
    const size = () => this.#endpoints.size;
    const d = options === undefined ? undefined : new OutlierDetector(options, size, systemClock, () => this.#covered());
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

  /** The tiers keep every pick off the ejected endpoints (what is left of home, or a failover cluster, takes it all). */
  #covered(): boolean {
    const { list, policy } = this.#endpoints;
    return totalHealth(list, policy.locality, policy.clusters ?? NO_CLUSTERS, (ep) => ep.health === undefined || ep.health.state !== 'ejected') >= 1;
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
    const s = this.#service;
    this.#events.emit(
      'ejection',
      {
        destination: s.name,
        namespace: s.namespace,
        endpoint: e.health.label,
        reason: e.trial ? 'failed-trial' : 'consecutive-failures',
        durationMs: e.durationMs,
        multiplier: e.multiplier,
      },
      this.#reporting,
    );
  }

  /** A trial that never answers must not keep its endpoint out (and under the ejection cap) for ever. */
  #onTrial(h: EndpointHealth, timeoutMs: number): void {
    this.#after(timeoutMs + 1, () => h.expireTrial());
  }

  #onReturn(h: EndpointHealth): void {
    this.sync();
    const s = this.#service;
    this.#events.emit('return', { destination: s.name, namespace: s.namespace, endpoint: h.label }, this.#reporting);
  }
}
