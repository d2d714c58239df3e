/**
 * What the concrete tier needs of a service it balances over: its endpoints
 * (and their subset views), whether discovery has answered, and the outlier
 * detector that judges its endpoints. Destination implements it; a route's
 * backend may be another service's, so layers take this, never Destination.
 */
import type { OutlierDetector } from '../../resilience/outlier-detector.js';
import type { EndpointSet } from './endpoint-set.js';

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
  /** The detector in force for this service's endpoints; undefined: outlier detection is off. */
  readonly outlier: OutlierDetector | undefined;
}
