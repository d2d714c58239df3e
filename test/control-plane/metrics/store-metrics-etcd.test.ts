/**
 * Store metrics on a real etcd (Debian's etcd-server): registry writes are etcd transactions there and
 * are timed by op beside configuration writes; with etcd stopped, a write fails after the etcd call's
 * deadline and is counted as a store error of its op.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, register, startControlPlane, type RunningControlPlane } from '../../helpers/control-plane.js';
import { startEtcdCluster, type EtcdCluster } from '../../helpers/etcd.js';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('control plane store metrics on etcd', { timeout: 180_000 }, () => {
  let etcd: EtcdCluster;
  let cp: RunningControlPlane;
  let metricsUrl: string;

  before(async () => {
    etcd = await startEtcdCluster(1);
    cp = await startControlPlane({
      // Insecure: the CA's encryption key is beside the point here; the store is what is measured.
      insecure: true,
      args: ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(','), '--etcd-timeout-ms', '1000', '--metrics-listen', '127.0.0.1:0'],
    });
    metricsUrl = (await cp.child.waitFor(/metrics served at (http:\/\/127\.0\.0\.1:\d+\/metrics)/, 10_000))[1]!;
  });
  after(async () => {
    await cp?.stop();
    await etcd?.stop();
  });

  it('times registry and configuration writes by op', async () => {
    const r = await register(cp.url, { service: 'on-etcd', address: '127.0.0.1', port: 20_300 });
    assert.equal((await call(cp.url, 'PUT', `/v1/leases/${r.leaseId}`)).status, 200);
    assert.equal((await call(cp.url, 'DELETE', `/v1/leases/${r.leaseId}`)).status, 204);
    const applied = await call(cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'on-etcd' }, spec: {} });
    assert.ok(applied.status < 300, applied.text);
    const text = await (await fetch(metricsUrl)).text();
    for (const op of ['register', 'renew', 'deregister', 'apply']) {
      assert.ok(sample(text, `hyphae_control_plane_store_operation_duration_seconds_count{store="etcd",op="${op}"}`)! >= 1, `${op}\n${text}`);
      assert.equal(sample(text, `hyphae_control_plane_store_errors_total{store="etcd",op="${op}"}`), 0, op);
    }
  });

  it('counts a write that fails while etcd is down as a store error', async () => {
    await etcd.stop();
    const applied = await call(cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'while-down' }, spec: {} });
    assert.equal(applied.status, 503, applied.text);
    const text = await (await fetch(metricsUrl)).text();
    assert.ok(sample(text, 'hyphae_control_plane_store_errors_total{store="etcd",op="apply"}')! >= 1, text);
    assert.ok(sample(text, 'hyphae_control_plane_http_requests_total{route="/v1/resources",method="PUT",code="503"}')! >= 1);
  });
});
