/**
 * Outlier detection (Envoy's consecutive-failure ejection), per destination:
 *
 * - each endpoint's health counts consecutive failures (as the shared
 *   classifier says: connect errors, resets, 5xx); at `consecutiveFailures`
 *   it is ejected for baseEjection x n (n = how many times it was ejected
 *   recently, decaying by one per baseEjection of health), capped at maxEjection;
 * - at most `maxEjectionPercent` % of the endpoints are ejected at once, but one
 *   ejection is always allowed (Envoy: "at least one host regardless");
 * - below `panicThreshold` % healthy the destination panics: ejections are
 *   ignored and traffic spreads over every endpoint (a sick pool beats none) —
 *   unless the owner says the rest carry the traffic (`covered`: a healthy
 *   failover cluster, as Envoy disregards the threshold at 100 % total health);
 * - when an ejection ends, the endpoint is on probation: it is available for
 *   exactly ONE trial request; success brings it back, failure ejects it again
 *   for longer, and until the trial's answer no other request is sent to it;
 * - a trial with no answer after `trialTimeoutMs` (the Service's baseEjectionTime) is
 *   a failed trial: an endpoint that accepts connections and never answers
 *   would otherwise never be picked again nor come back, and would hold a place
 *   under the ejection cap for ever. The detector has no timer: whoever owns it
 *   arms one on `onTrial` and calls `expireTrial()` (Destination does).
 *
 * Why not cockatiel's CircuitBreakerPolicy: it reads Date.now() (no fake clock),
 * moves Open -> HalfOpen only inside execute(), so a balancer cannot ask "is
 * this endpoint available?" without sending; in HalfOpen it makes concurrent
 * callers WAIT for the trial instead of going elsewhere; it wraps each call in
 * an async executor; and it has no notion of a pool (max ejection %, panic).
 * The state machine below is ~100 lines, timer-free (expiry is checked lazily
 * against the clock) and allocation-free per request.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { Listeners, type Disposer } from '../core/events.js';

export interface OutlierDetectionOptions {
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
  /** Percent of healthy endpoints below which ejections are ignored. */
  panicThreshold: number;
  /** A trial request unanswered this long (to its response headers) counts as failed. */
  trialTimeoutMs: number;
}

/** What one attempt says about the endpoint's health; 'neutral' says nothing (the caller's abort or deadline, a mesh refusal). */
export type HealthOutcome = 'success' | 'failure' | 'neutral';

/** healthy; ejected; probation: the ejection is over and the next request is its trial; trial: that request is in flight. */
export type HealthState = 'healthy' | 'ejected' | 'probation' | 'trial';

export interface EjectionEvent {
  health: EndpointHealth;
  /** How long it is ejected for. */
  durationMs: number;
  /** The ejection multiplier (1 for a first ejection). */
  multiplier: number;
  /** True when the endpoint's trial request after an ejection failed (false: consecutive failures of a healthy one). */
  trial: boolean;
}

export class OutlierDetector {
  readonly options: Readonly<OutlierDetectionOptions>;
  readonly clock: Clock;
  #size: () => number;
  #covered: () => boolean;
  /** Endpoints not Healthy (ejected, on probation, on trial). */
  #unhealthy = 0;
  #ejections = new Listeners<EjectionEvent>();
  #returns = new Listeners<EndpointHealth>();
  #trials = new Listeners<EndpointHealth>();
  /** Ejections refused by the max-ejection cap, since creation. */
  capped = 0;

  /**
   * `options` are complete: their defaults are the Service schema's (config/resources/resilience.ts), applied
   * by the caller. `size` tells how many endpoints the destination has (tracked or not). `covered` tells whether
   * its endpoints not ejected carry all its traffic anyway: one endpoint may stand for a whole cluster (a peer's
   * gateway), so a count of endpoints alone would panic and send calls back to the ejected ones.
   */
  constructor(options: Readonly<OutlierDetectionOptions>, size: () => number, clock: Clock = systemClock, covered: () => boolean = () => false) {
    this.options = { ...options };
    this.clock = clock;
    this.#size = size;
    this.#covered = covered;
  }

  /** The health record of one endpoint; release() it when the endpoint leaves the destination. */
  track(label = ''): EndpointHealth {
    return new EndpointHealth(this, label);
  }

  /** Endpoints currently ejected or not yet back from an ejection. */
  get unhealthy(): number {
    return this.#unhealthy;
  }

  /** True when too few endpoints are healthy: ejections are ignored and every endpoint takes traffic. */
  get panicking(): boolean {
    if (this.#unhealthy === 0) return false;
    const size = Math.max(this.#size(), this.#unhealthy);
    return (size - this.#unhealthy) * 100 < size * this.options.panicThreshold && !this.#covered();
  }

  onEjection(listener: (e: EjectionEvent) => void): Disposer {
    return this.#ejections.on(listener);
  }

  /** Told when an endpoint's trial succeeds and it is healthy again. */
  onReturn(listener: (h: EndpointHealth) => void): Disposer {
    return this.#returns.on(listener);
  }

  /** Told when a trial request is sent: call `h.expireTrial()` after `options.trialTimeoutMs`. */
  onTrial(listener: (h: EndpointHealth) => void): Disposer {
    return this.#trials.on(listener);
  }

  /** @internal May one more endpoint be ejected? */
  mayEject(): boolean {
    if (this.#unhealthy === 0) return true;
    const size = Math.max(this.#size(), this.#unhealthy + 1);
    return (this.#unhealthy + 1) * 100 <= size * this.options.maxEjectionPercent;
  }

  /** @internal */
  changed(delta: number): void {
    this.#unhealthy += delta;
  }

  /** @internal */
  ejected(e: EjectionEvent): void {
    if (this.#ejections.size > 0) this.#ejections.emit(e);
  }

  /** @internal */
  returned(h: EndpointHealth): void {
    if (this.#returns.size > 0) this.#returns.emit(h);
  }

  /** @internal */
  trialStarted(h: EndpointHealth): void {
    if (this.#trials.size > 0) this.#trials.emit(h);
  }
}

export class EndpointHealth {
  readonly label: string;
  #detector: OutlierDetector;
  #state: HealthState = 'healthy';
  #consecutive = 0;
  #multiplier = 0;
  #ejectedUntil = 0;
  /** When the trial in flight was sent. */
  #trialSentAt = 0;
  /** When the endpoint last became healthy (for the multiplier's decay). */
  #healthySince: number;
  #released = false;

  constructor(detector: OutlierDetector, label: string) {
    this.#detector = detector;
    this.label = label;
    this.#healthySince = detector.clock.now();
  }

  get state(): HealthState {
    this.#expire();
    return this.#state;
  }

  get consecutiveFailures(): number {
    return this.#consecutive;
  }

  get ejectedUntil(): number {
    return this.#state === 'ejected' ? this.#ejectedUntil : 0;
  }

  /**
   * May the balancer pick this endpoint now? Healthy: yes. Ejected: no (yes
   * once the ejection is over: probation). Trial in flight: no. Panic: yes.
   */
  get available(): boolean {
    if (this.#state === 'healthy') return true;
    this.#expire();
    if (this.#state === 'probation') return true;
    return this.#detector.panicking;
  }

  /** A request is being sent to the endpoint: on probation, it becomes the trial. */
  onSend(): void {
    if (this.#state === 'healthy') return;
    this.#expire();
    if (this.#state !== 'probation') return;
    this.#state = 'trial';
    this.#trialSentAt = this.#detector.clock.now();
    if (!this.#released) this.#detector.trialStarted(this);
  }

  /**
   * The trial's time is up (the owner's timer): a trial still unanswered
   * after trialTimeoutMs fails, and the endpoint is ejected again for longer.
   * Does nothing when that trial has answered or a later one is under way.
   */
  expireTrial(): void {
    if (this.#released || this.#state !== 'trial') return;
    if (this.#detector.clock.now() - this.#trialSentAt < this.#detector.options.trialTimeoutMs) return;
    this.#eject();
  }

  /** What an attempt sent to the endpoint says about it. */
  report(outcome: HealthOutcome): void {
    // Answers that arrive after the endpoint left the destination (its pool closing) say nothing.
    if (this.#released) return;
    switch (this.#state) {
      case 'healthy':
        if (outcome === 'success') this.#consecutive = 0;
        else if (outcome === 'failure' && ++this.#consecutive >= this.#detector.options.consecutiveFailures) this.#eject();
        return;
      case 'trial':
        if (outcome === 'success') this.#return();
        else if (outcome === 'failure') this.#eject();
        // Neutral: the trial told nothing; the next request is a trial again.
        else this.#state = 'probation';
        return;
      default:
        // Answers to requests sent before the ejection, or during panic: the trial decides, not them.
        return;
    }
  }

  /** The endpoint left the destination. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#state !== 'healthy') this.#detector.changed(-1);
    this.#state = 'healthy';
  }

  #expire(): void {
    if (this.#state === 'ejected' && this.#detector.clock.now() >= this.#ejectedUntil) this.#state = 'probation';
  }

  #eject(): void {
    const d = this.#detector;
    const wasHealthy = this.#state === 'healthy';
    if (wasHealthy && !d.mayEject()) {
      // The cap holds: keep counting, and try again at the next failure.
      d.capped++;
      return;
    }
    const now = d.clock.now();
    const o = d.options;
    if (wasHealthy) {
      // The multiplier decays by one per base ejection time spent healthy (Envoy decrements it per interval).
      const decay = Math.floor((now - this.#healthySince) / o.baseEjectionMs);
      this.#multiplier = Math.max(0, this.#multiplier - decay);
      if (!this.#released) d.changed(+1);
    }
    this.#multiplier++;
    const durationMs = Math.min(o.baseEjectionMs * this.#multiplier, o.maxEjectionMs);
    this.#state = 'ejected';
    this.#ejectedUntil = now + durationMs;
    this.#consecutive = 0;
    d.ejected({ health: this, durationMs, multiplier: this.#multiplier, trial: !wasHealthy });
  }

  #return(): void {
    this.#state = 'healthy';
    this.#consecutive = 0;
    this.#healthySince = this.#detector.clock.now();
    if (!this.#released) this.#detector.changed(-1);
    this.#detector.returned(this);
  }
}
