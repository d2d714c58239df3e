/**
 * serveGrpc and the channel credentials over time: a renewed workload certificate is used by new connections
 * while a call in flight on an old one finishes, and mesh.close() drains a gRPC server (deregistered, the call
 * in flight answered, then no more calls). serveGrpc refuses a server without the mesh's interceptor, and
 * its listener options when they are not whole numbers.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { meshGrpcClient, meshGrpcServerOptions, serveGrpc } from '../../src/grpc/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { echo, EchoClient, startEcho, type EchoInstance } from '../helpers/grpc-instances.js';

let cp: RunningControlPlane;
let api: Mesh;
let web: Mesh;
let instance: EchoInstance;
const clients: grpc.Client[] = [];

before(async () => {
  cp = await startControlPlane();
  api = await createMesh({ ...(await cp.meshOptions('api')), logger: silentLogger, server: { drainDelayMs: 100 } });
  web = await createMesh({ ...(await cp.meshOptions('web')), logger: silentLogger });
  instance = await startEcho(api, 'a');
});

after(async () => {
  for (const c of clients) c.close();
  instance?.server.forceShutdown();
  await web?.close();
  await api?.close();
  await cp?.stop();
});

/** `own`: a channel with its own connections (clients for one service otherwise share grpc-js's). */
function client(own = false): EchoClient {
  const { target, credentials, options } = meshGrpcClient(web, 'api');
  const c = new EchoClient(target, credentials, own ? { ...options, 'grpc.use_local_subchannel_pool': 1 } : options);
  clients.push(c);
  return c;
}

it("a server without this mesh's interceptor is refused before anything is bound or registered: its calls would skip authorization", async () => {
  const before = web.endpoints('api').length;
  for (const [what, server] of [
    ['no options', new grpc.Server()],
    ['options of its own', new grpc.Server({ 'grpc.max_connection_idle_ms': 1000 })],
    ["another mesh's options", new grpc.Server(meshGrpcServerOptions(web))],
  ] as const) {
    await assert.rejects(serveGrpc(api, server, { host: '127.0.0.1', port: 0 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HYPHAE_ERR_INVALID_OPTIONS', what);
      assert.match(err.message, /meshGrpcServerOptions\(mesh\)/);
      return true;
    });
    server.forceShutdown();
  }
  assert.equal(web.endpoints('api').length, before);
  // The mesh's own options, with the application's interceptors after the mesh's, are taken.
  const ok = new grpc.Server(meshGrpcServerOptions(api, { interceptors: [(_m, call) => new grpc.ServerInterceptingCall(call)] }));
  const { port } = await serveGrpc(api, ok, { host: '127.0.0.1', port: 0, register: false });
  assert.ok(port > 0);
  // grpc-js's own start() throws for a server none of whose HTTP/2 servers listens, which serveGrpc's never do.
  assert.doesNotThrow(() => ok.start());
  ok.forceShutdown();
});

it('serveGrpc refuses listener limits that are not whole numbers >= 0, before anything is bound', async () => {
  for (const bad of [{ maxConnections: -1 }, { tlsHandshakeTimeoutMs: 1.5 }, { maxConnections: Number.NaN }]) {
    const server = new grpc.Server(meshGrpcServerOptions(api));
    await assert.rejects(serveGrpc(api, server, { host: '127.0.0.1', port: 0, register: false, ...bad }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HYPHAE_ERR_INVALID_OPTIONS', JSON.stringify(bad));
      assert.match(err.message, new RegExp(Object.keys(bad)[0]!));
      return true;
    });
    server.forceShutdown();
  }
});

it('a renewed certificate is used by new connections; a call in flight on an old one finishes', async () => {
  const old = client();
  const first = (await echo(old)).clientSerial;
  assert.ok(first);
  const inFlight = echo(old, { delayMs: 1_000 });
  await web.renewCertificate();
  await api.renewCertificate();
  // The call that was in flight across both renewals answers, on its connection's (old) certificate.
  assert.equal((await inFlight).clientSerial, first);
  // A new connection presents the new certificate, and accepts the server's new one.
  const renewed = (await echo(client(true))).clientSerial;
  assert.ok(renewed);
  assert.notEqual(renewed, first);
  // The open connection carries on as it is.
  assert.equal((await echo(old)).clientSerial, first);
});

it('mesh.close() drains the gRPC server: deregistered, the call in flight answered, then refused', async () => {
  const c = client();
  await echo(c);
  assert.equal(web.endpoints('api').length, 1);
  const inFlight = echo(c, { delayMs: 500 });
  await waitUntil(() => instance.calls >= 2, 10_000, 'the slow call at the server');
  await api.close();
  assert.equal((await inFlight).instance, 'a');
  await waitUntil(() => web.endpoints('api').length === 0, 20_000, 'the instance out of discovery');
  const err = await echo(c, {}, 5_000).then(
    () => assert.fail('a call succeeded after the drain'),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(err.code, grpc.status.UNAVAILABLE);
});
