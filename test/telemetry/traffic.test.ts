/** Edge stats per route rule (src/telemetry/traffic.ts): counters given at compile time, the cap, rules that go away, and the reported sums. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statsReportSchema } from '../../src/config/stats.js';
import { latencyBucket } from '../../src/core/latency-histogram.js';
import { DEFAULT_ROUTE, MAX_ROUTES_PER_EDGE, OTHER_ROUTES } from '../../src/core/route-keys.js';
import { EdgeTraffic, type RouteStatsSlot } from '../../src/telemetry/traffic.js';

const slot = (route: string, name: string): RouteStatsSlot => ({ route, name, stats: undefined });

describe('edge stats per route rule', () => {
  it('counts each call once, under its rule or [default]; the edge is the sum of its rules', () => {
    const traffic = new EdgeTraffic();
    const edge = traffic.edge('default', 'api');
    const items = slot('default/api-routes', 'items');
    const orders = slot('default/api-routes', 'orders');
    edge.useRoutes([items, orders]);
    for (let i = 0; i < 5; i++) edge.record(2, false, items.stats);
    for (let i = 0; i < 3; i++) edge.record(40, i === 0, orders.stats);
    edge.record(1, true, undefined);
    const { edges } = traffic.take();
    assert.equal(edges.length, 1);
    const e = edges[0]!;
    assert.deepEqual([e.requests, e.errors], [9, 2]);
    const rows = Object.fromEntries(e.routes.map((r) => [r.rule ?? r.route, [r.route, r.requests, r.errors]]));
    assert.deepEqual(rows, { [DEFAULT_ROUTE]: [DEFAULT_ROUTE, 1, 1], items: ['default/api-routes', 5, 0], orders: ['default/api-routes', 3, 1] });
    assert.equal(
      e.latency.reduce((n, [, c]) => n + c, 0),
      9,
      "the edge's histogram is its rules' together",
    );
    // What the runtime sends, the control plane takes.
    assert.equal(statsReportSchema.safeParse({ reporter: 'unit-test-1', intervalMs: 1000, edges }).success, true);
    assert.deepEqual(traffic.take().edges, [], 'counted afresh after a take; an idle edge is not reported');
  });

  it("a Gateway's rules are an edge of their own, apart from a same-named Service's, reported with kind Gateway", () => {
    const traffic = new EdgeTraffic();
    const service = traffic.edge('default', 'edge');
    const gateway = traffic.edge('default', 'edge', 'Gateway');
    assert.notEqual(gateway, service);
    assert.equal(traffic.edge('default', 'edge', 'Gateway'), gateway, 'one per Gateway');
    const web = slot('default/gw-route', 'web');
    gateway.useRoutes([web]);
    // The carrier's stack records the call (its edge is the carrier's): the rule's counter decides where it counts.
    for (let i = 0; i < 3; i++) service.record(2, false, web.stats);
    service.record(1, true, gateway.unrouted);
    const { edges } = traffic.take();
    assert.deepEqual(
      edges.map((e) => [e.kind, e.destination, e.requests, e.errors, e.routes.map((r) => [r.route, r.rule, r.requests])]),
      [
        [
          'Gateway',
          'edge',
          4,
          1,
          [
            [DEFAULT_ROUTE, undefined, 1],
            ['default/gw-route', 'web', 3],
          ],
        ],
      ],
      'nothing under the Service edge of the same name',
    );
    assert.equal(statsReportSchema.safeParse({ reporter: 'unit-test-1', intervalMs: 1000, edges }).success, true);
  });

  it(`counts ${MAX_ROUTES_PER_EDGE} rules apart and folds the rest into [other]; a rule that stays keeps its counter`, () => {
    const traffic = new EdgeTraffic();
    const edge = traffic.edge('default', 'api');
    const slots = Array.from({ length: MAX_ROUTES_PER_EDGE + 8 }, (_, i) => slot('default/many', `r${i}`));
    edge.useRoutes(slots);
    for (const s of slots) edge.record(1, false, s.stats);
    const e = traffic.take().edges[0]!;
    assert.equal(e.routes.length, MAX_ROUTES_PER_EDGE + 1);
    assert.deepEqual(
      e.routes.find((r) => r.route === OTHER_ROUTES),
      { route: OTHER_ROUTES, requests: 8, errors: 0, latency: [[latencyBucket(1), 8]], latencySumMs: 8 },
    );
    assert.equal(statsReportSchema.safeParse({ reporter: 'unit-test-2', intervalMs: 1000, edges: [e] }).success, true);

    // A new config: r0 stays (same counter), the others go, a new rule takes a freed place.
    const kept = slot('default/many', 'r0');
    const added = slot('default/many', 'fresh');
    edge.useRoutes([added, kept]);
    assert.equal(kept.stats, slots[0]!.stats);
    assert.notEqual(added.stats!.route, OTHER_ROUTES);
    // A call that chose r5 before the change ends after it: still reported, once, under r5.
    edge.record(1, false, slots[5]!.stats);
    edge.record(1, false, added.stats);
    const after = traffic.take().edges[0]!;
    assert.deepEqual(after.routes.map((r) => r.rule).sort(), ['fresh', 'r5']);
    edge.record(1, false, kept.stats);
    assert.deepEqual(
      traffic.take().edges[0]!.routes.map((r) => r.rule),
      ['r0'],
      'a retired rule is forgotten once a report finds it idle',
    );
  });

  it('a rule that comes back gets its counter back, so one report never names it twice', () => {
    const traffic = new EdgeTraffic();
    const edge = traffic.edge('default', 'api');
    const first = slot('default/flip', 'a');
    edge.useRoutes([first]);
    edge.useRoutes([]);
    edge.record(1, false, first.stats);
    const again = slot('default/flip', 'a');
    edge.useRoutes([again]);
    assert.equal(again.stats, first.stats);
    edge.record(1, false, again.stats);
    assert.deepEqual(
      traffic.take().edges[0]!.routes.map((r) => [r.rule, r.requests]),
      [['a', 2]],
    );
  });
});
