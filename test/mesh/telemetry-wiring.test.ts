/**
 * What createMesh feeds its telemetry beyond the request path: an
 * authorization denial is counted by its policy, a route this process could
 * not compile reaches the control plane as refused configuration (and
 * `hyphae status`'s warnings), the endpoint gauge reads the destinations,
 * and `telemetry: { enabled: false }` takes every layer out.
 *
 * The control plane is plain HTTP here (--insecure): web's discovery is a
 * StaticResolver of its own (to hand it a route no control plane would accept),
 * which has no mTLS modes to give; security has its own tests, and the stats
 * with security on are in test/control-plane/stats.test.ts.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import type { RouteResource } from '../../src/config/resources.js';
import type { MeshSummary } from '../../src/control-plane/stats/summary.js';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

describe('telemetry fed by the mesh: denials, refused routes, endpoints; telemetry off', { timeout: 60_000 }, () => {
  let cp: RunningControlPlane;
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const meshes: Mesh[] = [];
  let apiPort = 0;

  before(async () => {
    metrics.setGlobalMeterProvider(provider);
    cp = await startControlPlane({ insecure: true });
    const applied = await call(cp.url, 'PUT', '/v1/resources', {
      items: [
        {
          apiVersion: 'hyphae.dev/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'deny-admin' },
          spec: { selector: { service: 'api' }, action: 'DENY', rules: [{ to: { paths: [{ type: 'Exact', value: '/admin' }] } }] },
        },
      ],
    });
    assert.equal(applied.status, 200, applied.text);
    const api = await createMesh({ controlPlane: cp.url, service: 'api', server: { drainDelayMs: 0 } });
    meshes.push(api);
    const server = api.wrapServer(http.createServer((_req, res) => res.end('ok')));
    server.listen(0, '127.0.0.1');
    await api.registered(server);
    apiPort = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await cp?.stop();
    await provider.shutdown();
    metrics.disable();
  });

  it("a denial is counted by policy; a route web cannot compile is reported as refused; the endpoint gauge reads web's destinations", async () => {
    // A route with a regex this process's engine refuses (a control plane would have refused it at apply).
    const badRoute: RouteResource = {
      apiVersion: 'hyphae.dev/v1',
      kind: 'Route',
      metadata: { name: 'broken', namespace: 'default' },
      spec: { parentRefs: [{ name: 'api' }], rules: [{ name: 'bad-regex', matches: [{ path: { type: 'RegularExpression', value: '(' } }], backendRefs: [{ name: 'api', weight: 1 }] }] },
    } as unknown as RouteResource;
    const resolver = new StaticResolver({ api: [{ address: '127.0.0.1', port: apiPort }] });
    resolver.configure('api', { routes: [badRoute] });
    const web = await createMesh({ controlPlane: cp.url, resolver, service: 'web', telemetry: { statsIntervalMs: 250 } });
    meshes.push(web);

    // Policies reach api's server over its watch: wait until the DENY is in force.
    const deadline = Date.now() + 5_000;
    let status = 0;
    while (Date.now() < deadline) {
      const r = await web.request('http://api/admin');
      await r.body.dump();
      status = r.statusCode;
      if (status === 403) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(status, 403);
    const ok = await web.request('http://api/items');
    assert.equal(await ok.body.text(), 'ok', 'the rest of the service is still served: the broken rule is left out');

    const { resourceMetrics } = await reader.collect();
    const all: MetricData[] = resourceMetrics.scopeMetrics.filter((s) => s.scope.name === 'hyphae').flatMap((s) => s.metrics);
    const denied = all.find((m) => m.descriptor.name === 'hyphae.server.requests.denied')!;
    const points = denied.dataPoints as { value: number; attributes: Record<string, unknown> }[];
    console.log(`denied: ${JSON.stringify(points)}`);
    assert.equal(points.length, 1);
    assert.ok(points[0]!.value >= 1);
    // hyphae.cluster: api's control plane runs without --cluster, and names the default one.
    assert.deepEqual(points[0]!.attributes, { 'hyphae.reason': 'deny-policy', 'hyphae.policy': 'default/deny-admin', 'hyphae.service': 'api', 'hyphae.cluster': 'default' });
    const endpoints = (all.find((m) => m.descriptor.name === 'hyphae.client.endpoints')!.dataPoints as { value: number; attributes: Record<string, unknown> }[]).map((p) => [
      p.attributes['server.address'],
      p.attributes['hyphae.endpoint.state'],
      p.value,
    ]);
    assert.deepEqual(endpoints, [['api', 'healthy', 1]]);

    // web's next stats report carries the refusal; the control plane turns it into a warning.
    let warnings: MeshSummary['warnings'] = [];
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      warnings = (await call<MeshSummary>(cp.url, 'GET', '/v1/stats/summary')).body.warnings;
      if (warnings.some((w) => w.kind === 'config-rejected')) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    console.log(`warnings: ${JSON.stringify(warnings)}`);
    const rejected = warnings.find((w) => w.kind === 'config-rejected')!;
    assert.ok(rejected, 'a config-rejected warning');
    assert.equal(rejected.service, 'api');
    assert.match(rejected.message, /^web refused the configuration of api: hyphae: route default\/broken rule 0 is left out/);
  });

  it("telemetry: { enabled: false } leaves no layer: nothing counted on either side, the caller's headers untouched", async () => {
    // A server that tells what it received, on a mesh without telemetry.
    const seen: (string | undefined)[] = [];
    const quiet = await createMesh({ resolver: new StaticResolver(), service: 'quiet', server: { drainDelayMs: 0 }, telemetry: { enabled: false } });
    meshes.push(quiet);
    const server = quiet.wrapServer(
      http.createServer((req, res) => {
        seen.push(req.headers.traceparent as string | undefined);
        res.end('quiet');
      }),
      { register: false },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const caller = await createMesh({
      resolver: new StaticResolver({ quiet: [{ address: '127.0.0.1', port: (server.address() as AddressInfo).port }] }),
      service: 'caller',
      telemetry: { enabled: false },
    });
    meshes.push(caller);
    const before = await reader.collect();
    const count = (rm: typeof before) =>
      rm.resourceMetrics.scopeMetrics
        .filter((s) => s.scope.name === 'hyphae')
        .flatMap((s) => s.metrics)
        .filter((m) => m.descriptor.name.endsWith('request.duration'))
        .flatMap((m) => m.dataPoints as { value: { count: number } }[])
        .reduce((n, p) => n + p.value.count, 0);
    const r = await caller.request('http://quiet/', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    assert.equal(await r.body.text(), 'quiet');
    assert.equal(seen[0], '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', "the caller's own header goes through untouched");
    assert.equal(count(await reader.collect()), count(before), 'no duration recorded on either side');
  });
});
