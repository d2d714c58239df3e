/**
 * The tap endpoints of a real control plane (a child process), under DESIGN's attacker's pass: who may open
 * a tap and feed one, malformed and oversized batches, a tap of a service nobody runs, and which watch
 * streams hear of a tap (the tapped service's instances only, never its callers).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiErrorBody } from '../../../src/config/wire.js';
import type { TapEvent } from '../../../src/config/tap.js';
import { ErrorCode } from '../../../src/core/errors.js';
import { call, register, startControlPlane, Watcher, type RunningControlPlane } from '../../helpers/control-plane.js';
import { SseClient } from '../../helpers/sse-client.js';

describe('tap endpoints (attacker pass)', { timeout: 120_000 }, () => {
  let cp: RunningControlPlane;
  let apiToken: string;
  let webToken: string;
  let viewerToken: string;

  before(async () => {
    cp = await startControlPlane({ bodyLimitBytes: 256 * 1024 });
    apiToken = await cp.joinToken('api');
    webToken = await cp.joinToken('web');
    viewerToken = (await call<{ token: string }>(cp.url, 'POST', '/v1/tokens', { kind: 'viewer' })).body.token;
    await register(cp.url, { service: 'api', address: '127.0.0.1', port: 4100 }, apiToken);
  });

  after(async () => {
    await cp?.stop();
  });

  const open = (path: string, token: string | undefined = cp.adminToken) => SseClient.open(cp.url, path, { ca: cp.ca!, ...(token ? { token } : {}) });

  it('opens a tap with the admin token only: no token 401, viewer and join tokens 403', async () => {
    assert.equal((await open('/v1/tap/default/api', '')).status, 401);
    const viewer = await open('/v1/tap/default/api', viewerToken);
    assert.equal(viewer.status, 403);
    assert.equal(viewer.error?.error.code, ErrorCode.FORBIDDEN);
    assert.equal((await open('/v1/tap/default/api', apiToken)).status, 403);
    const admin = await open('/v1/tap/default/api');
    assert.equal(admin.status, 200);
    await admin.close();
  });

  it('refuses a tap of a service nobody runs (404), bad names and bad parameters (400)', async () => {
    const unknown = await open('/v1/tap/default/nosuch');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.error?.error.code, ErrorCode.SERVICE_NOT_FOUND);
    for (const path of [
      '/v1/tap/Default/api',
      '/v1/tap/default/a..b',
      '/v1/tap/default/api?maxRps=0',
      '/v1/tap/default/api?maxRps=1001',
      '/v1/tap/default/api?maxRps=1.5',
      '/v1/tap/default/api?maxRps=1&maxRps=2',
      '/v1/tap/default/api?duration=2h',
      '/v1/tap/default/api?duration=10',
      '/v1/tap/default/api?pathPrefix=nope',
      `/v1/tap/default/api?pathPrefix=/${'x'.repeat(300)}`,
      '/v1/tap/default/api?pathPrefix=/a%0d%0ab',
      '/v1/tap/default/api?method=get',
      '/v1/tap/default/api?other=1',
    ]) {
      const r = await open(path);
      assert.equal(r.status, 400, path);
      assert.equal(r.error?.error.code, ErrorCode.BAD_REQUEST, path);
    }
  });

  it('refuses malformed, oversized and unauthorized sample batches, and batches for a tap that is not open', async () => {
    const reader = await open('/v1/tap/default/api?maxRps=5');
    await reader.until(() => reader.count('tap') === 1, 10_000, 'the tap event');
    const id = reader.data<{ id: string }>('tap')[0]!.id;
    const path = `/v1/tap/${id}`;
    const good = { t: Date.now(), method: 'GET', path: '/x', status: 200, latencyMs: 1, instance: '127.0.0.1:4100' };

    assert.equal((await call(cp.url, 'POST', path, { samples: [good] }, { token: apiToken })).status, 204);
    await reader.until(() => reader.count('sample') === 1, 10_000, 'the sample');

    const bad: [string, unknown][] = [
      ['extra field', { samples: [{ ...good, secret: 'x' }] }],
      ['no samples', {}],
      ['too many samples', { samples: Array.from({ length: 201 }, () => good) }],
      ['negative latency', { samples: [{ ...good, latencyMs: -1 }] }],
      ['long path', { samples: [{ ...good, path: `/${'a'.repeat(300)}` }] }],
      ['status out of range', { samples: [{ ...good, status: 1000 }] }],
      ['no instance', { samples: [{ ...good, instance: '' }] }],
      ['dropped not a count', { samples: [], dropped: -3 }],
      ['not an object', [good]],
    ];
    for (const [what, body] of bad) {
      const r = await call<ApiErrorBody>(cp.url, 'POST', path, body, { token: apiToken });
      assert.equal(r.status, 400, what);
      assert.equal(r.body.error.code, ErrorCode.BAD_REQUEST, what);
    }
    assert.equal((await call(cp.url, 'POST', path, undefined, { raw: '{"samples": [', token: apiToken })).status, 400, 'not JSON');
    const huge = await call<ApiErrorBody>(cp.url, 'POST', path, undefined, { raw: `{"samples":[],"pad":"${'x'.repeat(300 * 1024)}"}`, token: apiToken });
    assert.equal(huge.status, 413);
    assert.equal(huge.body.error.code, ErrorCode.PAYLOAD_TOO_LARGE);

    assert.equal((await call(cp.url, 'POST', path, { samples: [good] }, { token: null })).status, 401);
    assert.equal((await call(cp.url, 'POST', path, { samples: [good] }, { token: viewerToken })).status, 403);
    assert.equal((await call(cp.url, 'POST', path, { samples: [good] }, { token: webToken })).status, 403, "another service's token");
    const unknown = await call<ApiErrorBody>(cp.url, 'POST', '/v1/tap/AAAAAAAAAAAAAAAA', { samples: [good] }, { token: apiToken });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, ErrorCode.TAP_NOT_FOUND);

    await reader.close();
    await cp.child.waitFor(new RegExp(`tap close id=${id.slice(0, 8)}\\S* service=default/api`), 10_000);
    const gone = await call<ApiErrorBody>(cp.url, 'POST', path, { samples: [good] }, { token: apiToken });
    assert.equal(gone.status, 404, 'a closed tap takes nothing more');
    assert.equal(gone.body.error.code, ErrorCode.TAP_NOT_FOUND);
    // Only the one good sample was ever shown.
    assert.equal(reader.count('sample'), 1);
  });

  it("tells the tapped service's instances, never its callers' streams", async () => {
    const instance = await Watcher.open(cp.url, ['default/api'], apiToken);
    const caller = await Watcher.open(cp.url, ['default/api'], webToken);
    try {
      const reader = await open('/v1/tap/default/api');
      await reader.until(() => reader.count('tap') === 1, 10_000, 'the tap event');
      const id = reader.data<{ id: string }>('tap')[0]!.id;
      const on = await instance.waitFor((e) => e.event === 'tap' && (e.data as TapEvent).taps.some((t) => t.id === id), 10_000);
      assert.deepEqual((on.data as TapEvent).service, 'default/api');
      await reader.close();
      await instance.waitFor((e) => e.event === 'tap' && (e.data as TapEvent).taps.length === 0, 10_000, on.index + 1);
      // The caller follows the same service over the same hub: a snapshot would have reached it, a tap did not.
      assert.ok(!caller.events.some((e) => e.event === 'tap'), 'the caller heard nothing of the tap');
      assert.ok(caller.events.some((e) => e.event === 'service'));
    } finally {
      await instance.close();
      await caller.close();
    }
  });
});
