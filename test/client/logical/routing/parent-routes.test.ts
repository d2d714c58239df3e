/**
 * A call routed by its parent's tables (the ingress gateway's Routes, PARENT_ROUTES) is decided by them
 * alone: it must not wait for the discovery of the destination it travels through (the "carrier", the
 * first backend of the gateway's routes), which may be slower than the rule's own backend or failing.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode, isMeshError } from '../../../../src/core/errors.js';
import { PARENT_ROUTES, route as routeLayer, type RouteSource } from '../../../../src/client/logical/routing/route-layer.js';
import type { Attempt } from '../../../../src/client/endpoint/attempt.js';
import { callOf, compile, route, rule } from './helpers.js';

/** A carrier whose discovery never answers. */
const silentCarrier: RouteSource = { routes: undefined, isReady: false, whenReady: () => new Promise<void>(() => {}) };

it("a parent-routed call that matches no rule fails NO_ROUTE at once, without waiting for the carrier's discovery", async () => {
  const handle = routeLayer(silentCarrier)(() => Promise.reject(new Error('nothing below the route layer is reached')));
  const table = compile([route('edge', [rule('a-only', [{ path: { type: 'PathPrefix', value: '/a' } }])])]);
  const call = callOf('/b', { [PARENT_ROUTES]: [table] } as object);
  // A stall ceiling: before the fix the call waited on the carrier for ever.
  const outcome = await Promise.race([
    handle(call).then(
      () => 'answered',
      (err: unknown) => err,
    ),
    new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5_000)),
  ]);
  assert.ok(isMeshError(outcome) && outcome.code === ErrorCode.NO_ROUTE, `got ${String(outcome)}`);
});

it('a call of the destination itself (no parent tables) still waits for its discovery', async () => {
  let waited = false;
  const carrier: RouteSource = {
    routes: undefined,
    isReady: false,
    whenReady: () => {
      waited = true;
      return Promise.resolve();
    },
  };
  const handle = routeLayer(carrier)(() => Promise.resolve('sent' as unknown as Attempt));
  assert.equal(await handle(callOf('/b')), 'sent');
  assert.equal(waited, true);
});
