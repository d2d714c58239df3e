/**
 * The mesh LB policy's outlier detection: an instance that answers UNAVAILABLE is ejected by the
 * destination's detector (the same one HTTP calls feed), the mesh's endpoints() view shows it, and the
 * picker sends it nothing while the others are healthy.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { meshGrpcClient } from '../../src/grpc/index.js';
import { endpointOutcome } from '../../src/grpc/picker.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { echo, echoMany, EchoClient, startEcho, type EchoInstance } from '../helpers/grpc-echo.js';

let cp: RunningControlPlane;
let api: Mesh;
let web: Mesh;
const instances: EchoInstance[] = [];
let client: EchoClient;

before(async () => {
  cp = await startControlPlane();
  api = await createMesh({ ...(await cp.meshOptions('api')), logger: silentLogger, server: { drainDelayMs: 0 } });
  web = await createMesh({ ...(await cp.meshOptions('web')), logger: silentLogger });
  for (const name of ['a', 'b', 'c']) instances.push(await startEcho(api, name));
  const { target, credentials, options } = meshGrpcClient(web, 'api');
  client = new EchoClient(target, credentials, options);
});

after(async () => {
  client?.close();
  for (const i of instances) i.server.forceShutdown();
  await web?.close();
  await api?.close();
  await cp?.stop();
});

it('gRPC statuses judge the endpoint as the outlier detector reads HTTP attempts', () => {
  for (const code of [grpc.status.UNAVAILABLE, grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DATA_LOSS]) assert.equal(endpointOutcome(code), 'failure');
  assert.equal(endpointOutcome(grpc.status.CANCELLED), 'neutral');
  for (const code of [grpc.status.OK, grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED]) {
    assert.equal(endpointOutcome(code), 'success');
  }
});

it('ejects an instance that answers UNAVAILABLE; the others take every call', async () => {
  await waitUntil(async () => new Set(await echoMany(client, 30, 3)).size === 3, 20_000, 'three instances answering');
  const bad = instances[1]!;
  bad.failWith = grpc.status.UNAVAILABLE;
  const port = bad.port;
  // Calls until the detector has seen enough consecutive failures of b (no retry: each one that lands on b fails).
  await waitUntil(
    async () => {
      await Promise.all(Array.from({ length: 10 }, () => echo(client).catch(() => undefined)));
      return web.endpoints('api').find((e) => e.port === port)?.health === 'ejected';
    },
    20_000,
    'b ejected',
  );
  // The view shows b ejected; the others stay healthy.
  const view = web.endpoints('api');
  assert.deepEqual(view.map((e) => e.health).sort(), ['ejected', 'healthy', 'healthy']);
  const before = bad.calls;
  const answered = await echoMany(client, 100, 10);
  assert.equal(answered.length, 100);
  assert.equal(bad.calls, before, 'the ejected instance got no call');
  // What the calls taught the mesh is on its Endpoint objects: nothing left in flight.
  assert.ok(web.endpoints('api').every((e) => e.inflight === 0));
});

it('a dropped connection counts once against its instance, not once per call it carried', async () => {
  const solo = await createMesh({ ...(await cp.meshOptions('solo')), logger: silentLogger, server: { drainDelayMs: 0 } });
  const one = await startEcho(solo, 'one', { register: false });
  const { target, credentials, options } = meshGrpcClient(web, 'solo');
  const c = new EchoClient(target, credentials, options);
  try {
    // Registered by hand, so the instance stays in discovery after its server stops (only the connection goes).
    const reg = await (await solo.adapterHost().started()).registrar!.register({ address: '127.0.0.1', port: one.port, labels: {}, weight: 1 });
    await echo(c);
    // Ten calls in flight on the instance's one connection (more than consecutiveFailures, 5), then the server dies.
    const calls = Array.from({ length: 10 }, () =>
      echo(c, { delayMs: 10_000 }).then(
        () => grpc.status.OK,
        (e: grpc.ServiceError) => e.code,
      ),
    );
    await waitUntil(() => one.calls === 11, 10_000, 'ten calls at the server');
    one.server.forceShutdown();
    assert.deepEqual(
      await Promise.all(calls),
      Array.from({ length: 10 }, () => grpc.status.UNAVAILABLE),
    );
    // Ten UNAVAILABLE answers from one lost connection: not ejected (it would be at 5 failures counted apart).
    const view = web.endpoints('solo');
    assert.equal(view.length, 1);
    assert.notEqual(view[0]!.health, 'ejected');
    await reg.deregister();
  } finally {
    c.close();
    one.server.forceShutdown();
    await solo.close();
  }
});
