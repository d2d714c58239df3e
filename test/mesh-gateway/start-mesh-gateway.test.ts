/**
 * The mesh gateway end to end with real processes: the control plane as a child process (cluster
 * "default"), a wrapped server of `api` under STRICT mTLS, the gateway (startMeshGateway, in process,
 * its own identity and registration) and a client mesh whose discovery hands it an instance of `api`
 * that is the gateway, in the gateway's cluster (as peering will). The call goes through the gateway
 * without it decrypting anything: the server sees the client's own identity and the SNI the client
 * sent; a direct call sends no SNI; a TLS client with a wrong name is refused with an alert.
 */
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import type { TLSSocket } from 'node:tls';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { DEFAULT_CLUSTER } from '../../src/config/names.js';
import { meshSni } from '../../src/config/mesh-sni.js';
import { startMeshGateway, type RunningMeshGateway } from '../../src/mesh-gateway/start-mesh-gateway.js';
import { startControlPlane, watch, type RunningControlPlane } from '../helpers/control-plane.js';
import { within } from '../helpers/hostile-peers.js';
import { cliPath, startNode } from '../helpers/process.js';
import { startBackend, type Backend, type Echo } from '../helpers/gateway.js';
import { EndpointResolver } from './endpoint-resolver.js';

const API = { namespace: 'default', name: 'api' };

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

describe('hyphae gateway --mode mesh: end to end through real processes', () => {
  let cp: RunningControlPlane;
  let api: Backend;
  let gw: RunningMeshGateway;
  let viaGateway: Mesh;
  let direct: Mesh;
  /** The SNI each request to api arrived with ('' for none). */
  const servernames: string[] = [];
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });

  before(async () => {
    cp = await startControlPlane();
    api = await startBackend(cp, 'api', 'api', 0, (req) => {
      servernames.push((req.socket as TLSSocket).servername || '');
      return false;
    });
    gw = await startMeshGateway({
      // No cluster given: the control plane's is served.
      mesh: { ...(await cp.meshOptions('mesh-gateway')), logger: silentLogger, telemetry: { meterProvider } },
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
    });
    // The caller: its certificate from the control plane, its discovery a resolver that says api is behind the gateway.
    const remote = new EndpointResolver('STRICT');
    remote.set(API, [{ address: gw.address.host, port: gw.address.port, cluster: DEFAULT_CLUSTER }]);
    viaGateway = await createMesh({ ...(await cp.meshOptions('web')), resolver: remote, logger: silentLogger });
    const local = new EndpointResolver('STRICT');
    local.set(API, [{ address: '127.0.0.1', port: api.port }]);
    direct = await createMesh({ ...(await cp.meshOptions('web')), resolver: local, logger: silentLogger });
  });

  after(async () => {
    await viaGateway?.close();
    await direct?.close();
    await gw?.close();
    await api?.close();
    await cp?.stop();
    await meterProvider.shutdown();
  });

  it("serves its control plane's cluster, and refuses to start for another one", async () => {
    assert.equal(gw.cluster, DEFAULT_CLUSTER);
    await assert.rejects(
      startMeshGateway({ mesh: { ...(await cp.meshOptions('mesh-gateway')), logger: silentLogger }, cluster: 'dc9', host: '127.0.0.1', port: 0, register: false, logger: silentLogger }),
      (err: Error & { code?: string }) => err.code === 'HYPHAE_ERR_INVALID_OPTIONS' && /cluster dc9 is not the control plane's \(default\)/.test(err.message),
    );
  });

  it('relays with the native relay here, and refuses a relay it does not know', async () => {
    assert.equal(gw.relay.kind, 'native', JSON.stringify(gw.relay));
    await assert.rejects(
      startMeshGateway({ mesh: { ...(await cp.meshOptions('mesh-gateway')), logger: silentLogger }, relay: 'splice' as 'native', host: '127.0.0.1', port: 0, register: false }),
      (err: Error & { code?: string }) => err.code === 'HYPHAE_ERR_INVALID_OPTIONS' && /relay must be one of auto, native, node, got "splice"/.test(err.message),
    );
  });

  it("a call through the gateway reaches api over the caller's own mTLS: getPeer is the caller, the SNI the mesh name", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await viaGateway.request('http://api/items');
      assert.equal(r.statusCode, 200);
      const echo = (await r.body.json()) as Echo;
      assert.equal(echo.service, 'api');
      assert.match(echo.peer ?? '', /^spiffe:\/\/[^/]+\/ns\/default\/sa\/web$/, 'the server sees the caller, not the gateway');
    }
    assert.equal(servernames.at(-1), meshSni({ service: 'api', namespace: 'default', cluster: DEFAULT_CLUSTER }));
    const s = gw.stats();
    // Keep-alive: the three calls shared the connection the gateway piped.
    assert.ok(s.forwarded >= 1 && s.forwarded <= 3, JSON.stringify(s));
    assert.deepEqual(s.refused, {});
  });

  it('a call to a local instance sends no SNI, as before', async () => {
    const r = await direct.request('http://api/items');
    assert.equal(r.statusCode, 200);
    assert.match(((await r.body.json()) as Echo).peer ?? '', /\/sa\/web$/);
    assert.equal(servernames.at(-1), '');
  });

  it('refuses a TLS client with a name of another cluster or of no mesh service, with an alert', async () => {
    for (const servername of [meshSni({ service: 'api', namespace: 'default', cluster: 'dc9' }), meshSni({ service: 'ghost', namespace: 'default', cluster: DEFAULT_CLUSTER }), 'api']) {
      const err = await new Promise<Error>((resolve) => {
        const c = tls.connect({ host: gw.address.host, port: gw.address.port, servername, rejectUnauthorized: false });
        c.once('secureConnect', () => resolve(new Error('the handshake succeeded')));
        c.once('error', resolve);
        c.once('close', () => resolve(new Error('closed without an alert')));
      });
      assert.match(err.message, /unrecognized name/i, servername);
    }
    assert.equal(gw.stats().refused['other-cluster'], 1);
    assert.equal(gw.stats().refused['unknown-service'], 1);
    assert.equal(gw.stats().refused['not-mesh-sni'], 1);
    // The same counts through OpenTelemetry, by outcome and cause.
    const { resourceMetrics } = await reader.collect();
    const all: MetricData[] = resourceMetrics.scopeMetrics.flatMap((m) => m.metrics);
    const points = all.find((m) => m.descriptor.name === 'hyphae.mesh_gateway.connections')?.dataPoints ?? [];
    const count = (attrs: Record<string, string>) => points.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))?.value;
    assert.equal(count({ outcome: 'refused', cause: 'other-cluster', 'hyphae.cluster': DEFAULT_CLUSTER }), 1);
    assert.ok(Number(count({ outcome: 'forwarded' })) >= 1, JSON.stringify(points));
  });

  it('registers its listener as an instance of its own service, where peers find it', async () => {
    assert.equal(gw.registration?.id, `127.0.0.1:${gw.address.port}`);
    const w = await watch(cp.url, ['default/mesh-gateway']);
    try {
      const snap = await w.waitForService('default/mesh-gateway', (s) => s.instances.some((i) => i.port === gw.address.port), 10_000);
      assert.ok(
        snap.instances.every((i) => i.cluster === undefined),
        'a local instance carries no cluster',
      );
    } finally {
      await w.close();
    }
    assert.match(gw.mesh.identity()?.spiffeId ?? '', /\/sa\/mesh-gateway$/);
  });

  it('runs as `hyphae gateway --mode mesh` in its own process, and stops on SIGTERM with exit 0', async () => {
    const child = startNode(cliPath, ['gateway', '--mode', 'mesh', '--cluster', DEFAULT_CLUSTER, '--listen', '127.0.0.1:0', '--grace-period', '1s'], await cp.env('mesh-gateway'));
    let caller: Mesh | undefined;
    try {
      const m = await child.waitFor(
        /hyphae gateway: ready mode=mesh cluster=default listen=127\.0\.0\.1:(\d+) registered=127\.0\.0\.1:\d+ identity=spiffe:\/\/\S+\/sa\/mesh-gateway relay=native/,
        60_000,
      );
      const resolver = new EndpointResolver('STRICT');
      resolver.set(API, [{ address: '127.0.0.1', port: Number(m[1]), cluster: DEFAULT_CLUSTER }]);
      caller = await createMesh({ ...(await cp.meshOptions('web')), resolver, logger: silentLogger });
      const r = await caller.request('http://api/cli');
      assert.equal(r.statusCode, 200);
      assert.match(((await r.body.json()) as Echo).peer ?? '', /\/sa\/web$/);
      await caller.close();
      caller = undefined;
      child.proc.kill('SIGTERM');
      assert.equal(await within(child.exited, 30_000), 0, child.lines.join('\n'));
    } finally {
      await caller?.close();
      await child.kill();
    }
  });
});
