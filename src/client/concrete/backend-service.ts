/**
 * What the concrete tier needs of a service it balances over: its endpoints
 * (and their subset views), whether discovery has answered, and the outlier
 * detector that judges its endpoints. Destination implements it; a route's
 * backend may be another service's, so layers take this, never Destination.
 */
import type { EndpointHealth, HealthOutcome } from '../../resilience/outlier-detector.js';
import type { EndpointSet } from './endpoint-set.js';

/** Outlier detection of a service's endpoints, as the endpoint tier reports to it (concrete/outlier-health.ts). */
export interface OutlierJudge {
  /** The endpoint's health record; undefined when outlier detection is off. */
  track(id: string): EndpointHealth | undefined;
  /** An attempt of `call` ended with `outcome`: an ejection it causes is told with that call (its span). */
  report(call: unknown, health: EndpointHealth, outcome: HealthOutcome): void;
}

/** A waiter that can be stopped: a call registers how to stop waiting (MeshCall.setOnAbort). */
export interface AbortableWait {
  setOnAbort(fn: ((err: Error) => void) | undefined): void;
}

export interface BackendService {
  readonly name: string;
  readonly namespace: string;
  readonly endpoints: EndpointSet;
  /** True once discovery knows the service (its endpoints may still be none). */
  readonly isReady: boolean;
  /** Resolves once discovery knows the service; rejects with its documented error otherwise. */
  whenReady(waiter: AbortableWait): Promise<void>;
  /** Outlier detection of this service's endpoints; undefined: it is off. */
  readonly outlier: OutlierJudge | undefined;
}
