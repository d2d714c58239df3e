/**
 * The `hyphae:` resolver on a plaintext mesh fed by a StaticResolver: targets from user input are checked
 * (an attacker's name never reaches discovery), endpoints reach grpc-js live (none, then some, a flapping
 * set), and a discovery that never answers ends calls UNAVAILABLE naming the service.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { isMeshError, ErrorCode } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { meshGrpcClient } from '../../src/grpc/index.js';
import { parseServiceTarget } from '../../src/grpc/resolver.js';
import { echo, EchoClient, startEcho, type EchoInstance } from '../helpers/grpc-echo.js';

const statics = new StaticResolver();
let mesh: Mesh;
const servers: EchoInstance[] = [];
const clients: grpc.Client[] = [];

before(async () => {
  mesh = await createMesh({ service: 'web', resolver: statics, logger: silentLogger });
  for (const name of ['a', 'b']) servers.push(await startEcho(mesh, name, { register: false }));
});

after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) s.server.forceShutdown();
  await mesh?.close();
});

function client(m: Mesh, service: string): EchoClient {
  const { target, credentials, options } = meshGrpcClient(m, service);
  const c = new EchoClient(target, credentials, options);
  clients.push(c);
  return c;
}

const invalid = (err: unknown) => isMeshError(err, ErrorCode.INVALID_OPTIONS);

it('takes a service and an optional namespace, each a DNS label, and nothing else', () => {
  assert.deepEqual(parseServiceTarget('api'), { service: 'api', namespace: undefined });
  assert.deepEqual(parseServiceTarget('api.payments'), { service: 'api', namespace: 'payments' });
  for (const bad of ['', 'API', 'a.b.c', '../etc', 'api.', '.api', 'api/x', 'api%2ex', 'api:80', 'a'.repeat(64), 'a'.repeat(100_000), 'api\u0000', '-api']) {
    assert.throws(() => parseServiceTarget(bad), invalid, JSON.stringify(bad.slice(0, 20)));
  }
  assert.throws(() => meshGrpcClient(mesh, 'Bad_Name'), invalid);
  assert.throws(() => meshGrpcClient(mesh, 'api', { namespace: 'a.b' }), invalid);
  assert.equal(meshGrpcClient(mesh, 'api').target, 'hyphae:///api');
  assert.equal(meshGrpcClient(mesh, 'api', { namespace: 'payments' }).target, 'hyphae:///api.payments');
  // The same checks where grpc-js parses a target the application wrote itself: the client is not made.
  const { credentials, options } = meshGrpcClient(mesh, 'api');
  assert.throws(() => new EchoClient('hyphae://evil.example/api', credentials, options), invalid);
  assert.throws(() => new EchoClient('hyphae:///api.ns.extra', credentials, options), invalid);
});

it('a hyphae: channel without a mesh fails its calls UNAVAILABLE saying so', async () => {
  const { target, credentials } = meshGrpcClient(mesh, 'api');
  const c = new EchoClient(target, credentials, {});
  clients.push(c);
  const err = await echo(c).then(
    () => assert.fail('the call succeeded'),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(err.code, grpc.status.UNAVAILABLE);
  assert.match(err.details, /has no mesh/);
});

it("endpoints reach the channel live: none, one, the other, and a flapping set's last state", async () => {
  const c = client(mesh, 'api');
  const none = await echo(c).then(
    () => assert.fail('the call succeeded'),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(none.code, grpc.status.UNAVAILABLE);
  assert.match(none.details, /service api is not known to the mesh .*HYPHAE_ERR_SERVICE_NOT_FOUND/);
  const [a, b] = servers as [EchoInstance, EchoInstance];
  statics.set('api', [{ address: '127.0.0.1', port: a.port }]);
  assert.equal((await echo(c)).instance, 'a');
  statics.set('api', [{ address: '127.0.0.1', port: b.port }]);
  assert.equal((await echo(c)).instance, 'b');
  statics.set('api', []);
  const empty = await echo(c).then(
    () => assert.fail('the call succeeded'),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(empty.code, grpc.status.UNAVAILABLE);
  assert.match(empty.details, /service api has no endpoints/);
  // An endpoint flapping 500 times: the channel follows to the last set, with no call lost or misrouted.
  for (let i = 0; i <= 500; i++) statics.set('api', i % 2 === 0 ? [{ address: '127.0.0.1', port: a.port }] : []);
  const replies = await Promise.all(Array.from({ length: 20 }, () => echo(c)));
  assert.deepEqual(new Set(replies.map((r) => r.instance)), new Set(['a']));
});

it('a discovery that never answers ends calls UNAVAILABLE after discoveryTimeoutMs, naming the service', async () => {
  const silent = await createMesh({ service: 'web', resolver: { watch: () => () => undefined, close: async () => undefined }, discoveryTimeoutMs: 300, logger: silentLogger });
  try {
    const started = performance.now();
    const err = await echo(client(silent, 'api')).then(
      () => assert.fail('the call succeeded'),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /service api/);
    assert.match(err.details, /HYPHAE_ERR_CONTROL_PLANE_UNREACHABLE/);
    // The call waited for discovery rather than failing at once.
    assert.ok(performance.now() - started >= 250);
  } finally {
    await silent.close();
  }
});

it('a closed mesh makes no client and binds no server; its channels fail UNAVAILABLE', async () => {
  const m = await createMesh({ service: 'web', resolver: new StaticResolver({ api: [{ address: '127.0.0.1', port: servers[0]!.port }] }), logger: silentLogger });
  const c = client(m, 'api');
  assert.equal((await echo(c)).instance, 'a');
  await m.close();
  assert.throws(
    () => meshGrpcClient(m, 'api'),
    (err: unknown) => isMeshError(err, ErrorCode.MESH_CLOSED),
  );
  await assert.rejects(startEcho(m, 'late', { register: false }), (err: unknown) => isMeshError(err, ErrorCode.MESH_CLOSED));
  // The channel made before the close: its endpoints went with the mesh's discovery.
  const err = await echo(c, {}, 3_000).then(
    () => assert.fail('a call succeeded through a closed mesh'),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(err.code, grpc.status.UNAVAILABLE);
  assert.match(err.details, /service api: the mesh was closed \(HYPHAE_ERR_MESH_CLOSED\)/);
});
