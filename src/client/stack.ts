/**
 * The client stack, assembled here and nowhere else (DESIGN: "the stack is
 * assembled in ONE place per side"). Outermost first:
 *
 *   logical (per route)       later: telemetry -> deadline -> route match -> retry
 *   concrete (per destination) balance: pick an endpoint from discovery
 *   endpoint                  later: outlier detection -> concurrency limit
 *   transport                 the endpoint's undici pool
 *
 * It is built once per destination; nothing here runs per request.
 */
import { compose, type Filter, type Handler } from '../core/filter.js';
import type { Attempt } from './attempt.js';
import { balance } from './balance.js';
import type { MeshCall } from './call.js';
import type { Destination } from './destination.js';
import { transport } from './transport.js';

export function buildClientStack(dest: Destination): Handler<MeshCall, Attempt> {
  const layers: Filter<MeshCall, Attempt>[] = [
    // Concrete: every attempt picks again, so a retry above can avoid an endpoint that failed.
    balance(dest),
  ];
  return compose(layers, transport);
}
