/**
 * `GET /metrics` of a control plane child process: on the API with an admin or viewer token (a join
 * token and no token are refused), counted by route template and never by raw path; and on the
 * `--metrics-listen` listener, plain HTTP without a token, under the listener rules every listener of
 * ours follows (DESIGN.md): a slow request is cut with 408 and its socket destroyed, connections over
 * the cap are closed at accept, and descriptors come back to their baseline.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, register, startControlPlane, Watcher, type RunningControlPlane } from '../../helpers/control-plane.js';
import { fdCount, slowRequest, waitUntil, within } from '../../helpers/hostile-peers.js';

const MAX = 3;

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** A sample's value in exposition text, or undefined when the series is not there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('control plane GET /metrics', () => {
  let cp: RunningControlPlane;
  let metricsUrl: string;
  let metricsPort: number;

  before(async () => {
    cp = await startControlPlane({
      args: ['--metrics-listen', '127.0.0.1:0', '--metrics-max-connections', String(MAX), '--headers-timeout', '1s', '--request-timeout', '2s'],
    });
    const m = await cp.child.waitFor(/metrics served at (http:\/\/127\.0\.0\.1:(\d+)\/metrics)/, 10_000);
    metricsUrl = m[1]!;
    metricsPort = Number(m[2]);
  });
  after(async () => {
    await cp?.stop();
  });

  it('refuses no token (401) and a join token (403) on the API; serves a viewer and the admin in the text format', async () => {
    const anonymous = await call<{ error: { code: string } }>(cp.url, 'GET', '/metrics', undefined, { token: null });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, 'HYPHAE_ERR_UNAUTHENTICATED');
    assert.ok(!anonymous.text.includes('hyphae_control_plane'), 'nothing of the figures in the refusal');

    const join = await call<{ error: { code: string } }>(cp.url, 'GET', '/metrics', undefined, { token: await cp.joinToken('api') });
    assert.equal(join.status, 403);
    assert.equal(join.body.error.code, 'HYPHAE_ERR_FORBIDDEN');

    const viewer = (await call<{ token: string }>(cp.url, 'POST', '/v1/tokens', { kind: 'viewer' })).body.token;
    const asViewer = await call(cp.url, 'GET', '/metrics', undefined, { token: viewer });
    assert.equal(asViewer.status, 200, asViewer.text);
    assert.equal(asViewer.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(asViewer.text, /^# HELP hyphae_control_plane_http_requests_total /m);
    assert.match(asViewer.text, /^# TYPE process_resident_memory_bytes gauge$/m);
    assert.ok(asViewer.text.endsWith('\n'));

    const asAdmin = await call(cp.url, 'GET', '/metrics');
    assert.equal(asAdmin.status, 200);
    // The refusals above are counted: by the route's template and the code it answered.
    assert.ok(sample(asAdmin.text, 'hyphae_control_plane_http_requests_total{route="/metrics",method="GET",code="401"}')! >= 1, asAdmin.text);
    assert.ok(sample(asAdmin.text, 'hyphae_control_plane_http_requests_total{route="/metrics",method="GET",code="403"}')! >= 1);
  });

  it('counts requests by route template, never by the raw path, and reads the registry and stream gauges', async () => {
    const leases: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await register(cp.url, { service: 'metrics-svc', address: '127.0.0.1', port: 20_000 + i });
      leases.push(r.leaseId);
    }
    for (const lease of leases) assert.equal((await call(cp.url, 'PUT', `/v1/leases/${lease}`)).status, 200);
    assert.equal((await call(cp.url, 'GET', '/v1/no-such/endpoint-xyz')).status, 404);

    const text = await (await fetch(metricsUrl)).text();
    assert.equal(sample(text, 'hyphae_control_plane_http_requests_total{route="/v1/instances",method="POST",code="201"}'), 3, text);
    assert.equal(sample(text, 'hyphae_control_plane_http_requests_total{route="/v1/leases/:leaseId",method="PUT",code="200"}'), 3);
    assert.ok(sample(text, 'hyphae_control_plane_http_requests_total{route="unmatched",method="GET",code="404"}')! >= 1);
    for (const lease of leases) assert.ok(!text.includes(lease), 'a lease id (a capability) never becomes a label');
    assert.ok(!text.includes('endpoint-xyz'), 'a raw path never becomes a label');
    assert.ok(sample(text, 'hyphae_control_plane_http_request_duration_seconds_count{route="/v1/instances",method="POST"}')! >= 3);
    assert.equal(sample(text, 'hyphae_control_plane_registry_instances'), 3);
    assert.ok(sample(text, 'hyphae_control_plane_registry_services')! >= 1);
    assert.equal(sample(text, 'hyphae_control_plane_watch_streams'), 0);
    assert.ok(sample(text, 'process_open_fds')! > 0);
    assert.ok(sample(text, 'process_start_time_seconds')! > 1_600_000_000);
    assert.ok(sample(text, 'nodejs_eventloop_lag_seconds')! >= 0);
  });

  it('times configuration writes as store operations', async () => {
    // HYPHAE_TEST_ETCD runs every control plane of the suite on etcd (helpers/control-plane.ts).
    const store = process.env.HYPHAE_TEST_ETCD ? 'etcd' : 'file';
    const applied = await call(cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'metrics-svc' }, spec: {} });
    assert.ok(applied.status < 300, applied.text);
    const text = await (await fetch(metricsUrl)).text();
    assert.ok(sample(text, `hyphae_control_plane_store_operation_duration_seconds_count{store="${store}",op="apply"}`)! >= 1, text);
    assert.equal(sample(text, `hyphae_control_plane_store_errors_total{store="${store}",op="apply"}`), 0);
    assert.equal(sample(text, 'hyphae_control_plane_config_resources{kind="Service"}'), 1);
  });

  it('observes the push latency of a registry change to its watchers, and counts the open watch stream', async () => {
    const watcher = await Watcher.open(cp.url, ['default/pushed']);
    try {
      const before = sample(await (await fetch(metricsUrl)).text(), 'hyphae_control_plane_push_latency_seconds_count') ?? 0;
      const from = watcher.events.length;
      await register(cp.url, { service: 'pushed', address: '127.0.0.1', port: 20_200 });
      await watcher.waitForService('default/pushed', (snap) => snap.instances.length === 1, 10_000, from);
      const text = await (await fetch(metricsUrl)).text();
      assert.equal(sample(text, 'hyphae_control_plane_watch_streams'), 1);
      const count = sample(text, 'hyphae_control_plane_push_latency_seconds_count')!;
      assert.ok(count > before, `pushes counted: ${before} -> ${count}`);
      const sum = sample(text, 'hyphae_control_plane_push_latency_seconds_sum')!;
      assert.ok(sum >= 0 && sum < 10, `push latency sum ${sum} s`);
    } finally {
      await watcher.close();
    }
  });

  it('the metrics listener serves GET and HEAD /metrics only, without a token', async () => {
    const base = metricsUrl.replace(/\/metrics$/, '');
    assert.equal((await fetch(`${base}/v1/health`)).status, 404);
    const post = await fetch(metricsUrl, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await fetch(metricsUrl, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  });

  it('the metrics listener cuts a request slower than the request timeout with 408 and gives the descriptor back', async () => {
    const pid = cp.child.proc.pid!;
    await waitUntil(() => fdCount(pid) > 0, 1_000, 'the process is there');
    const baseline = fdCount(pid);
    const slow = slowRequest(await connect(metricsPort), 'GET /metrics HTTP/1.1\r\nHost: x\r\n', 'X-Slow: ' + 'a'.repeat(200), 100);
    try {
      const ended = await within(slow.endedByServer, 10_000);
      assert.ok(ended !== undefined, `not cut within 10 s: ${JSON.stringify(slow.received())}`);
      assert.match(slow.received(), /^HTTP\/1\.1 408 /);
      assert.ok(ended >= 900, `cut after ${Math.round(ended)} ms, before the 1 s headers timeout`);
      await waitUntil(() => fdCount(pid) <= baseline, 5_000, `descriptors back to ${baseline} (now ${fdCount(pid)})`);
    } finally {
      slow.close();
    }
  });

  it('the metrics listener closes connections over --metrics-max-connections at accept, and serves again when they leave', async () => {
    // Each holds a kept-alive connection after one complete request (the cap counts connections, busy or not).
    const open = await Promise.all(
      Array.from({ length: MAX }, async () => {
        const s = await connect(metricsPort);
        const answer = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
        s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.match(await answer, /^HTTP\/1\.1 200 /);
        return s;
      }),
    );
    try {
      const extra = await connect(metricsPort);
      const got = await within(
        new Promise<string>((resolve) => {
          let text = '';
          extra.on('data', (d: Buffer) => (text += d.toString('latin1')));
          // 'end' (the server's FIN) is enough: the socket is half-open on this side (allowHalfOpen).
          extra.once('end', () => resolve(text));
          extra.once('close', () => resolve(text));
          extra.on('error', () => {});
          extra.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
        }),
        10_000,
      );
      extra.destroy();
      assert.equal(got, '', 'closed at accept, without an answer');
      await cp.child.waitFor(/metrics connection cap reached: 3 connections open/, 5_000);
    } finally {
      for (const s of open) s.destroy();
    }
    await waitUntil(async () => (await fetch(metricsUrl).catch(() => undefined))?.status === 200, 10_000, 'served again once the connections left');
  });
});
