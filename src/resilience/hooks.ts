/**
 * What the resilience layers decide: the events a mesh's layers emit into its
 * one event sink (MeshEvents, core/events.ts EventSink), and the hooks an
 * application may give createMesh() to hear them (ResilienceHooks). Events
 * are emitted only for the (rare) decision they name — never once per
 * successful request — so they cost nothing on the success path.
 *
 * The client stack (src/client/stack.ts, concrete/outlier-health.ts) emits
 * them; the server stack (src/server/wrap-server.ts) calls `onShed`, which the
 * mesh turns into a `shed` event. src/mesh/mesh-events.ts makes the sink and
 * subscribes the application's hooks and telemetry to it.
 */

export type RetryDecision = 'retry' | 'attempts-exhausted' | 'not-idempotent' | 'body-not-replayable' | 'deadline' | 'budget-exhausted';

export interface RetryHookEvent {
  /** The service retried: the backend a route rule chose (whose retry budget the retry spends), else the service in the URL. */
  destination: string;
  namespace: string;
  /** The route rule that matched, if any. */
  route: string | undefined;
  /** What failed: a retry condition, or 'refused' (a peer shedding load). */
  condition: string;
  /** 'retry', or why the failure was returned to the caller instead. */
  decision: RetryDecision;
  /** The attempt that failed (0 = the first). */
  attempt: number;
  /** The endpoint it failed on (`address:port`). */
  endpoint: string | undefined;
  /** Backoff before the retry (0 when not retried). */
  delayMs: number;
}

export interface BudgetHookEvent {
  destination: string;
  namespace: string;
  route: string | undefined;
}

export interface EjectionHookEvent {
  /** The service the endpoint belongs to. */
  destination: string;
  namespace: string;
  endpoint: string;
  /** 'consecutive-failures' for a healthy endpoint, 'failed-trial' when its one trial request after an ejection failed. */
  reason: 'consecutive-failures' | 'failed-trial';
  durationMs: number;
  /** How many times it has been ejected recently (the ejection time's multiplier). */
  multiplier: number;
}

export interface EndpointHookEvent {
  destination: string;
  namespace: string;
  endpoint: string;
}

export interface ShedHookEvent {
  /** Why a wrapped server answered 503 before its handler: too many requests in progress, or event-loop lag. */
  reason: 'concurrency' | 'event-loop';
}

export interface LimitHookEvent {
  destination: string;
  namespace: string;
  maxConcurrent: number;
  maxPending: number;
}

/** The events of a mesh's sink, by name: one channel per decision. */
export interface MeshEvents {
  /** Each failed attempt the retry layer looked at: retried, or given up (and why; 'budget-exhausted' included). */
  retry: RetryHookEvent;
  /** Outlier detection ejected an endpoint. */
  ejection: EjectionHookEvent;
  /** An ejected endpoint's trial request succeeded. */
  return: EndpointHookEvent;
  /** A call failed fast on its destination's concurrency limit. */
  limited: LimitHookEvent;
  /** A wrapped server shed a request. */
  shed: ShedHookEvent;
}

export interface ResilienceHooks {
  /** Each failed attempt that the retry layer looked at: retried, or given up (with the reason). */
  onRetry?(event: RetryHookEvent): void;
  /** A retry refused because the destination's retry budget is spent (also an onRetry with that decision). */
  onBudgetExhausted?(event: BudgetHookEvent): void;
  /** Outlier detection ejected an endpoint. */
  onEjection?(event: EjectionHookEvent): void;
  /** An ejected endpoint's trial request succeeded: it is healthy again. */
  onReturn?(event: EndpointHookEvent): void;
  /** A wrapped server shed a request (503, Retry-After). */
  onShed?(event: ShedHookEvent): void;
  /** A call failed fast on the destination's concurrency limit. */
  onLimited?(event: LimitHookEvent): void;
}
