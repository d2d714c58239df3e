import { ErrorCode, MeshError } from '../../../core/errors.js';
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
 * Set on a call's dispatch options by an edge that routes for a parent other than the destination (an
 * ingress gateway: its Gateway's routes, compiled by the same compileRoutes). Such a call is routed by
 * those tables instead of the destination's routes — the first table with a matching rule decides (the
 * Gateway API's hostname tiers: exact, then wildcards, then no hostname) — and one that matches no rule
 * fails with HYPHAE_ERR_NO_ROUTE (the Gateway API's 404) instead of going to the whole service. A symbol,
 * so that nothing an application sends can set it; read once per call (one property load when absent).
 */
export const PARENT_ROUTES = Symbol('hyphae.parentRoutes');

export interface ParentRoutedOptions {
  [PARENT_ROUTES]?: readonly RouteTable[];
}

function noRoute(call: MeshCall): Promise<Attempt> {
  return Promise.reject(
    new MeshError(ErrorCode.NO_ROUTE, `no route rule matches ${call.opts.method} ${call.pathname}`, {
      rejected: true,
      details: { path: call.pathname },
    }),
  );
}

/**
 * The logical layer: match the call against the destination's compiled
 * routes and apply the rule (filters, mirrors, faults, the weighted choice of
 * a backend). It reads `dest.routes` once per call, so a config change swaps
 * the table for new calls while calls in flight keep the backend they chose.
 * It waits for discovery's first answer, which carries the routes (not for a
 * call routed by its parent's tables: those carry everything it needs).
 */
export function route(dest: RouteSource): Filter<MeshCall, Attempt> {
  return (next) => {
    const routed = (call: MeshCall): Promise<Attempt> => {
      const parent = (call.opts as ParentRoutedOptions)[PARENT_ROUTES];
      if (parent !== undefined) {
        for (let i = 0; i < parent.length; i++) {
          const e = parent[i]!.match(call);
          if (e !== undefined) return e.rule.handle(call, e.prefix, next);
        }
        // Counted where the parent's unmatched calls are (the Gateway's `[default]`), not as the carrier's.
        call.logical.routeStats = parent[0]?.unmatched;
        return noRoute(call);
      }
      const table = dest.routes;
      if (table === undefined) return next(call);
      const entry = table.match(call);
      return entry === undefined ? next(call) : entry.rule.handle(call, entry.prefix, next);
    };
    // Not async: once discovery has answered, routing costs no extra promise. A call that carries its parent's
    // tables (a gateway's) is routed by them alone: it waits for the backend its rule picks (rule.ts), never for
    // the destination it travels through, whose discovery may be slower or failing.
    return (call) => {
      if (dest.isReady || (call.opts as ParentRoutedOptions)[PARENT_ROUTES] !== undefined) return routed(call);
      return dest.whenReady(call).then(() => routed(call));
    };
  };
}
