/**
 * The default mesh (zero-config form) is a lazy facade over an ordinary Mesh
 * made from the environment: what it promised before it became one. Each test
 * file runs in its own process, so this file's environment and default mesh
 * are its own; each test sets the environment, then closes the default mesh.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, it } from 'node:test';
import { closeDefaultMesh, createMesh, ErrorCode, getDefaultMesh, isMeshError, meshFetch, meshRequest, wrapServer } from '../../src/index.js';
import { makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await closeDefaultMesh();
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const k of Object.keys(process.env)) if (k.startsWith('HYPHAE_')) delete process.env[k];
});

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

it('nothing is read at import; a missing HYPHAE_CONTROL_PLANE fails the first use, naming it', async () => {
  for (const k of Object.keys(process.env)) if (k.startsWith('HYPHAE_')) delete process.env[k];
  assert.throws(
    () => wrapServer(http.createServer()),
    (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS) && err.message.includes('HYPHAE_CONTROL_PLANE'),
  );
  await assert.rejects(meshRequest('http://api/'), (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS));
  await assert.rejects(meshFetch('http://api/'), (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS));
  await assert.rejects(getDefaultMesh(), (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS));
});

it('a missing HYPHAE_SERVICE fails at wrapServer, not at listen()', () => {
  process.env.HYPHAE_CONTROL_PLANE = 'http://127.0.0.1:9';
  assert.throws(
    () => wrapServer(http.createServer()),
    (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS) && (err.details as { variable?: string }).variable === 'HYPHAE_SERVICE',
  );
  // A server that does not register needs no service name.
  assert.ok(wrapServer(http.createServer(), { register: false }));
});

it('a server wrapped before the default mesh started is registered by it and drained by closeDefaultMesh()', async () => {
  const cp = await startControlPlane({ insecure: true });
  cleanups.push(() => cp.stop());
  process.env.HYPHAE_CONTROL_PLANE = cp.url;
  process.env.HYPHAE_SERVICE = 'zero';
  process.env.HYPHAE_DRAIN_DELAY_MS = '0';
  process.env.HYPHAE_CACHE_DIR = 'off';
  const server = wrapServer(http.createServer((_req, res) => res.end('ok')));
  const port = await listen(server);
  const mesh = await getDefaultMesh();
  assert.equal(await getDefaultMesh(), mesh, 'one default mesh per process');
  assert.equal((await mesh.registered(server))?.id, `127.0.0.1:${port}`);
  await closeDefaultMesh();
  assert.equal(server.listening, false);
  // The next use makes a new default mesh.
  const next = await getDefaultMesh();
  assert.notEqual(next, mesh);
});

it('control plane down at the first call, then up: the next call starts the default mesh and works', async () => {
  const dataDir = await makeTempDir();
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const probe = await startControlPlane({ dataDir, insecure: true });
  const port = probe.port;
  await probe.stop();
  process.env.HYPHAE_CONTROL_PLANE = `http://127.0.0.1:${port}`;
  process.env.HYPHAE_CACHE_DIR = 'off';
  await assert.rejects(meshRequest('http://api/'), (err) => isMeshError(err, ErrorCode.CONTROL_PLANE_UNREACHABLE));
  await assert.rejects(meshFetch('http://api/'), (err) => isMeshError(err, ErrorCode.CONTROL_PLANE_UNREACHABLE));
  const cp: RunningControlPlane = await startControlPlane({ dataDir, insecure: true, args: ['--port', String(port)] });
  cleanups.push(() => cp.stop());
  const api = await createMesh({ controlPlane: cp.url, service: 'api', cacheDir: false });
  cleanups.push(() => api.close());
  const server = api.wrapServer(http.createServer((_req, res) => res.end('from api')));
  await listen(server);
  await api.registered(server);
  const r = await meshRequest('http://api/');
  assert.equal(await r.body.text(), 'from api');
  assert.equal(await (await meshFetch('http://api/')).text(), 'from api');
});
