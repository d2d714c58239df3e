/**
 * The zero-config wrapServer (default mesh from the environment) enforces its
 * service's policies too, and follows their changes live. Each test file runs
 * in its own process, so this file's environment and default mesh are its own.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { closeDefaultMesh, wrapServer } from '../../src/index.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { rawRequest } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/services.js';

let cp: RunningControlPlane;
before(async () => {
  // Insecure: the policy here matches a path, checked with a raw plaintext client.
  cp = await startControlPlane({ insecure: true });
  process.env.HYPHAE_CONTROL_PLANE = cp.url;
  process.env.HYPHAE_SERVICE = 'zero';
  process.env.HYPHAE_DRAIN_DELAY_MS = '0';
});
after(async () => {
  await closeDefaultMesh();
  await cp?.stop();
});

it('the default mesh wrapServer enforces a policy applied after it started, within 1 s', async () => {
  const server = wrapServer(http.createServer((_req, res) => res.end('ok')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  assert.equal((await rawRequest(port, { target: '/admin' })).status, 200);
  const deny = {
    apiVersion: 'hyphae.dev/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'zero-admin' },
    spec: { selector: { service: 'zero' }, action: 'DENY', rules: [{ to: { paths: [{ value: '/admin' }] } }] },
  };
  assert.equal((await call(cp.url, 'PUT', '/v1/resources', deny)).status, 200);
  const ms = await waitUntil(async () => (await rawRequest(port, { target: '/admin' })).status === 403, 1_000, 10);
  console.log(`# default mesh: DENY applied -> enforced in ${ms.toFixed(0)} ms`);
  assert.equal((await rawRequest(port, { target: '/public' })).status, 200);
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
