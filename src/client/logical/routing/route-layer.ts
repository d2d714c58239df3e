import type { Filter } from '../../../core/filter.js';
import type { Attempt } from '../../endpoint/attempt.js';
import type { MeshCall } from '../../call/mesh-call.js';
import type { AbortableWait } from '../../concrete/backend-service.js';
import type { RouteTable } from './route-table.js';

/** What the route layer reads of its destination: the compiled routes in force, once discovery has answered. */
export interface RouteSource {
  readonly routes: RouteTable | undefined;
  readonly isReady: boolean;
  whenReady(waiter: AbortableWait): Promise<void>;
}

/**
 * The logical layer: match the call against the destination's compiled
 * routes and apply the rule (filters, mirrors, faults, the weighted choice of
 * a backend). It reads `dest.routes` once per call, so a config change swaps
 * the table for new calls while calls in flight keep the backend they chose.
 * It waits for discovery's first answer, which carries the routes.
 */
export function route(dest: RouteSource): Filter<MeshCall, Attempt> {
  return (next) => {
    const routed = (call: MeshCall): Promise<Attempt> => {
      const table = dest.routes;
      if (table === undefined) return next(call);
      const entry = table.match(call);
      return entry === undefined ? next(call) : entry.rule.handle(call, entry.prefix, next);
    };
    // Not async: once discovery has answered, routing costs no extra promise.
    return (call) => (dest.isReady ? routed(call) : dest.whenReady(call).then(() => routed(call)));
  };
}
