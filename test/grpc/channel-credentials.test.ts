/**
 * Channel credentials: clients made by separate meshGrpcClient() calls for one service share grpc-js's
 * connections (one per instance), as channels with equal credentials do; another service gets its own
 * credentials, whose SPIFFE check names it.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { meshGrpcClient } from '../../src/grpc/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/wait.js';
import { echoMany, EchoClient, startEcho, type EchoInstance } from '../helpers/grpc-instances.js';
import { establishedOnPort } from '../helpers/tcp-sockets.js';

let cp: RunningControlPlane;
let api: Mesh;
let web: Mesh;
const instances: EchoInstance[] = [];
const clients: grpc.Client[] = [];

before(async () => {
  cp = await startControlPlane();
  api = await createMesh({ ...(await cp.meshOptions('api')), logger: silentLogger, server: { drainDelayMs: 0 } });
  web = await createMesh({ ...(await cp.meshOptions('web')), logger: silentLogger });
  for (const name of ['a', 'b']) instances.push(await startEcho(api, name));
});

after(async () => {
  for (const c of clients) c.close();
  for (const i of instances) i.server.forceShutdown();
  await web?.close();
  await api?.close();
  await cp?.stop();
});

function client(): EchoClient {
  const { target, credentials, options } = meshGrpcClient(web, 'api');
  const c = new EchoClient(target, credentials, options);
  clients.push(c);
  return c;
}

it('clients from separate meshGrpcClient() calls share one connection per instance', async () => {
  const first = client();
  await waitUntil(async () => new Set(await echoMany(first, 20, 2)).size === 2, 20_000, 'both instances answering the first client');
  const second = client();
  const third = client();
  await waitUntil(async () => new Set([...(await echoMany(second, 20, 2)), ...(await echoMany(third, 20, 2))]).size === 2, 20_000, 'both instances answering the others');
  // Before the fix each client opened its own: 3 per instance here.
  for (const i of instances) assert.equal(establishedOnPort(i.port), 1, `connections to instance ${i.name}`);
});

it("credentials are kept per service and namespace: another service's SPIFFE check must name it", () => {
  assert.equal(meshGrpcClient(web, 'api').credentials, meshGrpcClient(web, 'api').credentials);
  assert.notEqual(meshGrpcClient(web, 'billing').credentials, meshGrpcClient(web, 'api').credentials);
  assert.notEqual(meshGrpcClient(web, 'api', { namespace: 'shop' }).credentials, meshGrpcClient(web, 'api').credentials);
});
