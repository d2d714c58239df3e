/**
 * The recommended setup (docs/usage.md, "Control plane metrics and logs"): a real Prometheus (Debian's)
 * scrapes `GET /metrics` on the control plane's own HTTPS listener, trusting its CA (`tls_config.ca_file`)
 * and sending a viewer token (`authorization.credentials_file`). Library services start against it; the
 * test reads back from Prometheus's API the requests by route, the instances gauge matching what was
 * registered, and the certificates the services were issued.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, startControlPlane, type RunningControlPlane } from '../../helpers/control-plane.js';
import { startPrometheus, type RunningPrometheus } from '../../helpers/prometheus.js';
import { startApi, type RunningService } from '../../helpers/services.js';

describe('a real Prometheus scrapes the control plane over HTTPS with a viewer token', { timeout: 300_000 }, () => {
  let cp: RunningControlPlane;
  let prom: RunningPrometheus;
  let dir: string;
  const services: RunningService[] = [];

  before(async () => {
    cp = await startControlPlane();
    dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-cp-prom-'));
    const viewer = await call<{ token: string }>(cp.url, 'POST', '/v1/tokens', { kind: 'viewer' });
    assert.equal(viewer.status, 201, viewer.text);
    const tokenFile = path.join(dir, 'viewer-token');
    await writeFile(tokenFile, viewer.body.token, { mode: 0o600 });
    await chmod(dir, 0o700);
    prom = await startPrometheus(
      `  - job_name: hyphae-control-plane
    scheme: https
    tls_config:
      ca_file: ${cp.caFile}
    authorization:
      type: Bearer
      credentials_file: ${tokenFile}
    static_configs:
      - targets: ['127.0.0.1:${cp.port}']
`,
      dir,
    );
    // Two instances of a library service: each registers and is issued its certificate.
    services.push(await startApi(cp, 'v1'), await startApi(cp, 'v2'));
  });
  after(async () => {
    for (const s of services) await s.child.kill();
    await prom?.stop();
    await cp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the scrape is up, authenticated by the viewer token over the CA-verified TLS', async () => {
    const up = await prom.until('up{job="hyphae-control-plane"}', (r) => r.length === 1 && r[0]!.value[1] === '1');
    assert.equal(up[0]!.metric.instance, `127.0.0.1:${cp.port}`);
  });

  it('has the instances gauge matching what the registry lists', async () => {
    const listed = await call<{ instances: unknown[] }>(cp.url, 'GET', '/v1/instances');
    assert.equal(listed.body.instances.length, 2);
    const r = await prom.until('hyphae_control_plane_registry_instances', (x) => x.length === 1 && x[0]!.value[1] === '2');
    assert.equal(r[0]!.metric.job, 'hyphae-control-plane');
  });

  it('counts the certificates issued to the library services', async () => {
    const r = await prom.until('hyphae_control_plane_certificates_issued_total', (x) => x.length === 1 && Number(x[0]!.value[1]) >= 2);
    assert.ok(Number(r[0]!.value[1]) >= 2, 'one per instance at least');
  });

  it('has request counts by route template and code, never a raw path', async () => {
    const byRoute = await prom.until('sum by (route, method, code) (hyphae_control_plane_http_requests_total)', (x) =>
      ['/v1/instances', '/v1/certificates', '/metrics'].every((route) => x.some((s) => s.metric.route === route)),
    );
    console.log(byRoute.map((s) => `  ${s.metric.method} ${s.metric.route} ${s.metric.code} = ${s.value[1]}`).join('\n'));
    const registered = byRoute.find((s) => s.metric.route === '/v1/instances' && s.metric.method === 'POST' && s.metric.code === '201');
    assert.ok(registered && Number(registered.value[1]) >= 2, 'both registrations');
    const scraped = byRoute.find((s) => s.metric.route === '/metrics' && s.metric.code === '200');
    assert.ok(scraped && Number(scraped.value[1]) >= 1, "Prometheus's own scrapes, answered 200");
    for (const s of byRoute) assert.ok(s.metric.route === 'unmatched' || s.metric.route!.startsWith('/'), `route label ${s.metric.route}`);
    assert.ok(!byRoute.some((s) => /\/v1\/leases\/(?!:leaseId)/.test(s.metric.route!)), 'lease ids stay out of the labels');
    // The histograms are there, with their le buckets.
    const buckets = await prom.query('count by (le) (hyphae_control_plane_http_request_duration_seconds_bucket)');
    assert.ok(buckets.some((b) => b.metric.le === '+Inf'));
    const watch = await prom.until('hyphae_control_plane_watch_streams', (x) => x.length === 1 && Number(x[0]!.value[1]) >= 2);
    assert.ok(Number(watch[0]!.value[1]) >= 2, 'each service holds its watch stream');
    await prom.until('process_resident_memory_bytes{job="hyphae-control-plane"}', (x) => x.length === 1 && Number(x[0]!.value[1]) > 1e6);
  });
});
