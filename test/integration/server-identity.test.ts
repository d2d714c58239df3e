/**
 * Issue 3, must-show 3: a client refuses a server whose SPIFFE ID is not the
 * destination's. An instance of `api` is registered (with the admin token) at
 * the address of a real mesh server whose certificate says `web`; and another
 * at a server of another mesh (another CA) that calls itself `api`. Calls to
 * api fail before any request is sent, with codes that say why, and neither
 * impostor's handler runs.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { createMesh, ErrorCode, isMeshError, type Mesh } from '../../src/index.js';
import { register, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

let cp: RunningControlPlane;
let other: RunningControlPlane;
const meshes: Mesh[] = [];
let impostorHits = 0;

async function serve(mesh: Mesh): Promise<number> {
  const server = mesh.wrapServer(
    http.createServer((_req, res) => {
      impostorHits++;
      res.end('impostor');
    }),
    { register: false },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

before(async () => {
  [cp, other] = await Promise.all([startControlPlane(), startControlPlane()]);
});

after(async () => {
  await Promise.all(meshes.map((m) => m.close()));
  await Promise.all([cp?.stop(), other?.stop()]);
});

it("a server presenting web's identity where api was expected: HYPHAE_ERR_PEER_IDENTITY_MISMATCH, nothing sent", async () => {
  const web = await createMesh(await cp.meshOptions('web'));
  meshes.push(web);
  const port = await serve(web);
  await register(cp.url, { service: 'api', address: '127.0.0.1', port });
  const client = await createMesh(await cp.meshOptions('client'));
  meshes.push(client);
  const err = await client.request('http://api/').then(
    () => assert.fail('the call to an impostor succeeded'),
    (e: unknown) => e,
  );
  assert.ok(isMeshError(err, ErrorCode.PEER_IDENTITY_MISMATCH), String(err));
  assert.equal(err.rejected, true, 'the request never left this process');
  assert.deepEqual({ expected: err.details?.expected, actual: err.details?.actual }, { expected: 'spiffe://hyphae.local/ns/default/sa/api', actual: 'spiffe://hyphae.local/ns/default/sa/web' });
  await assert.rejects(client.fetch('http://api/'), (e: Error) => isMeshError(e.cause, ErrorCode.PEER_IDENTITY_MISMATCH));
  assert.equal(impostorHits, 0);
  console.log(`impostor (web at api's address): ${err.code}: ${err.message}`);
});

it('a server of another mesh (another CA) that calls itself api: HYPHAE_ERR_TLS_HANDSHAKE_FAILED', async () => {
  const foreignApi = await createMesh(await other.meshOptions('api'));
  meshes.push(foreignApi);
  const port = await serve(foreignApi);
  await register(cp.url, { service: 'api2', address: '127.0.0.1', port });
  const client = await createMesh(await cp.meshOptions('client2'));
  meshes.push(client);
  const err = await client.request('http://api2/').then(
    () => assert.fail('the call to another mesh succeeded'),
    (e: unknown) => e,
  );
  assert.ok(isMeshError(err, ErrorCode.TLS_HANDSHAKE_FAILED), String(err));
  assert.match(err.message, /certificate/i);
  assert.equal(impostorHits, 0);
  console.log(`another CA at api2's address: ${err.code}: ${err.message}`);
});
