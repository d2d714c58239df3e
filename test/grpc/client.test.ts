/**
 * meshGrpcClient end to end: grpc-js servers served through serveGrpc on a control plane with mTLS, and a
 * meshed grpc-js client that reaches them by name, balanced by the mesh. Clients for one service share their
 * connections (grpc-js's subchannel pool, for channels with equal credentials).
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { meshGrpcClient } from '../../src/grpc/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { echo, echoMany, EchoClient, startEcho, type EchoInstance } from '../helpers/grpc-instances.js';
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
  for (const name of ['a', 'b', 'c']) instances.push(await startEcho(api, name));
});

after(async () => {
  for (const c of clients) c.close();
  for (const i of instances) i.server.forceShutdown();
  await web?.close();
  await api?.close();
  await cp?.stop();
});

function client(service = 'api', namespace?: string): EchoClient {
  const { target, credentials, options } = meshGrpcClient(web, service, namespace === undefined ? {} : { namespace });
  const c = new EchoClient(target, credentials, options);
  clients.push(c);
  return c;
}

it('reaches the service by name over mTLS, presenting the workload certificate', async () => {
  const reply = await echo(client());
  assert.ok(['a', 'b', 'c'].includes(reply.instance));
  // The server required a client certificate (STRICT): the call's connection carried web's.
  assert.ok(reply.clientSerial);
});

it('spreads calls evenly over three instances', async () => {
  const c = client();
  // Every instance discovered and connected first: the spread is the balancer's, not the connect order's.
  await waitUntil(async () => new Set(await echoMany(c, 30, 3)).size === 3, 20_000, 'three instances answering');
  const n = 600;
  const counts = new Map<string, number>();
  for (const who of await echoMany(c, n, 10)) counts.set(who, (counts.get(who) ?? 0) + 1);
  // peak_ewma: of two random instances the cheaper; on equal servers each gets n/3 = 200 on average. A share
  // below 100 (half its due) would be a balancer stuck on one or two instances, not the noise of latency.
  for (const name of ['a', 'b', 'c']) assert.ok((counts.get(name) ?? 0) >= 100, `instance ${name}: ${counts.get(name) ?? 0} of ${n} (${JSON.stringify([...counts])})`);
});

it('clients from separate meshGrpcClient() calls share one connection per instance', async () => {
  const clientsNow = [client(), client(), client()];
  await waitUntil(async () => new Set((await Promise.all(clientsNow.map((c) => echoMany(c, 15, 3)))).flat()).size === 3, 20_000, 'every instance answering every client');
  // Before credentials were kept per service, each client (and each test's) opened its own: 3+ per instance.
  for (const i of instances) assert.equal(establishedOnPort(i.port), 1, `connections to instance ${i.name}`);
});

it("credentials are kept per service and namespace: another service's SPIFFE check must name it", () => {
  assert.equal(meshGrpcClient(web, 'api').credentials, meshGrpcClient(web, 'api').credentials);
  // Not billing: a client follows its service from the moment it is made, and the impostor test below must
  // register billing before web first asks for it.
  assert.notEqual(meshGrpcClient(web, 'ledger').credentials, meshGrpcClient(web, 'api').credentials);
  assert.notEqual(meshGrpcClient(web, 'api', { namespace: 'shop' }).credentials, meshGrpcClient(web, 'api').credentials);
});

it('a stopped instance is dropped and calls keep succeeding', async () => {
  const c = client();
  await waitUntil(async () => new Set(await echoMany(c, 30, 3)).size === 3, 20_000, 'three instances answering');
  const stopped = instances[2]!;
  stopped.server.forceShutdown();
  const answered = await echoMany(c, 200, 10);
  assert.equal(answered.length, 200);
  assert.ok(!answered.includes(stopped.name), 'no call reached the stopped instance');
  // Its registration went with it (serveGrpc deregisters on forceShutdown): the mesh forgets it.
  await waitUntil(() => !web.endpoints('api').some((e) => e.port === stopped.port), 20_000, 'the stopped instance out of discovery');
  instances.pop();
});

it('a service with no endpoint fails UNAVAILABLE naming the service', async () => {
  const err = await echo(client('nobody')).then(
    () => assert.fail('the call succeeded'),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(err.code, grpc.status.UNAVAILABLE);
  assert.match(err.details, /nobody/);
});

it("refuses a server whose certificate is another service's, registered under this one's name", async () => {
  // An impostor's server (its own workload certificate), registered as an instance of billing.
  const billing = await createMesh({ ...(await cp.meshOptions('billing')), logger: silentLogger });
  const impostor = await createMesh({ ...(await cp.meshOptions('impostor')), logger: silentLogger });
  const fake = await startEcho(impostor, 'fake', { register: false });
  try {
    const registrar = (await billing.adapterHost().started()).registrar!;
    const reg = await registrar.register({ address: '127.0.0.1', port: fake.port, labels: {}, weight: 1 });
    const err = await echo(client('billing')).then(
      () => assert.fail('the call reached the impostor'),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /presented spiffe:\/\/hyphae\.local\/ns\/default\/sa\/impostor, expected spiffe:\/\/hyphae\.local\/ns\/default\/sa\/billing/);
    assert.equal(fake.calls, 0);
    await reg.deregister();
  } finally {
    fake.server.forceShutdown();
    await impostor.close();
    await billing.close();
  }
});
