import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, it } from 'node:test';
import { createMesh, ErrorCode, isMeshError, type Mesh } from '../../src/index.js';
import { call, register, deregister, makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

let cp: RunningControlPlane;
let mesh: Mesh;

before(async () => {
  cp = await startControlPlane();
  mesh = await createMesh({ ...(await cp.meshOptions('client')), discoveryTimeoutMs: 2_000 });
});

after(async () => {
  await mesh?.close();
  await cp?.stop();
});

it('a service the control plane has never seen: HYPHAE_ERR_SERVICE_NOT_FOUND', async () => {
  await assert.rejects(mesh.request('http://nosuch/'), (err) => isMeshError(err, ErrorCode.SERVICE_NOT_FOUND) && /nosuch/.test(err.message));
  await assert.rejects(mesh.fetch('http://nosuch/'), (err: Error) => isMeshError(err.cause, ErrorCode.SERVICE_NOT_FOUND));
});

it('a known service with no instance left: HYPHAE_ERR_NO_ENDPOINTS', async () => {
  const lease = await register(cp.url, { service: 'lonely', address: '127.0.0.1', port: 9 });
  assert.equal(await deregister(cp.url, lease.leaseId), 204);
  await assert.rejects(mesh.request('http://lonely/'), (err) => isMeshError(err, ErrorCode.NO_ENDPOINTS));
});

it('a service configured by a Service resource but not running: HYPHAE_ERR_NO_ENDPOINTS', async () => {
  const res = await call(cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'planned' } });
  assert.equal(res.status, 200, res.text);
  await assert.rejects(mesh.request('http://planned/'), (err) => isMeshError(err, ErrorCode.NO_ENDPOINTS));
});

it('control plane unreachable: HYPHAE_ERR_CONTROL_PLANE_UNREACHABLE at start and for a first call while it is down', async () => {
  await assert.rejects(createMesh({ controlPlane: 'http://127.0.0.1:9', connectAttempts: 2 }), (err) => isMeshError(err, ErrorCode.CONTROL_PLANE_UNREACHABLE));
  const other = await startControlPlane();
  // No discovery cache: a cache left by an earlier control plane on the same port would (rightly) answer instead.
  const m = await createMesh({ ...(await other.meshOptions('client')), discoveryTimeoutMs: 3_000, cacheDir: false });
  try {
    await other.stop('SIGKILL');
    await assert.rejects(m.request('http://api/'), (err) => isMeshError(err, ErrorCode.CONTROL_PLANE_UNREACHABLE));
  } finally {
    await m.close();
  }
});

it('waitForControlPlane: createMesh waits until the control plane comes up', async () => {
  // Find a free port by starting and stopping a control plane, then bring one up there later. The data
  // directory is kept, so the late one has the same CA and knows the join token made now.
  const dataDir = await makeTempDir();
  const probe = await startControlPlane({ dataDir });
  const port = probe.port;
  const options = await probe.meshOptions('client');
  await probe.stop();
  const pending = createMesh({ ...options, controlPlane: `https://127.0.0.1:${port}`, waitForControlPlane: true });
  let settled = false;
  void pending.finally(() => (settled = true)).catch(() => {});
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(settled, false, 'still waiting while nothing listens');
  const late = await startControlPlane({ dataDir, args: ['--port', String(port)] });
  try {
    const m = await pending;
    await m.close();
  } finally {
    await late.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
