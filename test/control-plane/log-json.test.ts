/**
 * `hyphae control-plane --log-format json`: a child process that registers, applies, refuses, issues a
 * certificate and shuts down writes nothing but JSON objects, one per line, each with the
 * stable fields (time ISO, level, msg, component).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call, register, startControlPlane } from '../helpers/control-plane.js';
import { startApi } from '../helpers/services.js';

const LEVELS = new Set(['info', 'warn', 'error']);

describe('control plane --log-format json', () => {
  it('writes every line as one JSON object with time, level, msg and component', async () => {
    const cp = await startControlPlane({ args: ['--log-format', 'json'] });
    let stdout: string[];
    try {
      const r = await register(cp.url, { service: 'logged', address: '127.0.0.1', port: 20_100 });
      const applied = await call(cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'logged' }, spec: {} });
      assert.ok(applied.status < 300, applied.text);
      assert.equal((await call(cp.url, 'GET', '/v1/services', undefined, { token: null })).status, 401);
      assert.equal((await call(cp.url, 'DELETE', `/v1/leases/${r.leaseId}`)).status, 204);
      // A library service: a certificate issued and a watch stream opened and closed.
      const api = await startApi(cp);
      await api.child.kill();
      await cp.child.waitFor(/watch close/, 20_000);
    } finally {
      const exit = await cp.stop();
      assert.equal(exit, 0);
      // Every line of the process's output, stderr's too: nothing it writes may break a JSON log pipeline.
      stdout = cp.child.lines;
    }
    assert.ok(stdout.length >= 8, stdout.join('\n'));
    const components = new Set<string>();
    for (const line of stdout) {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        assert.fail(`not JSON: ${line}`);
      }
      assert.deepEqual(Object.keys(o).slice(0, 4), ['time', 'level', 'msg', 'component'], line);
      assert.match(o.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(LEVELS.has(o.level as string), line);
      assert.equal(typeof o.msg, 'string');
      assert.equal(typeof o.component, 'string');
      components.add(o.component as string);
    }
    for (const c of ['server', 'registry', 'config', 'http', 'ca', 'watch']) assert.ok(components.has(c), `a ${c} line among ${[...components].join(', ')}`);
    const last = JSON.parse(stdout.at(-1)!) as Record<string, unknown>;
    assert.equal(last.msg, 'closed');
    assert.ok(stdout.some((l) => (JSON.parse(l) as { msg: string }).msg === 'shutting down (SIGTERM)'));
  });
});
