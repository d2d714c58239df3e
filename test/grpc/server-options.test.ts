/**
 * meshGrpcServerOptions: the limits a meshed grpc-js server advertises. grpc-js sets no MAX_CONCURRENT_STREAMS
 * of its own (one connection could open streams without end); the mesh's options advertise the mesh's HTTP/2
 * servers' 100 unless the application chose its own, and calls past it wait for a stream rather than fail.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { meshGrpcServerOptions, serveGrpc } from '../../src/grpc/index.js';
import { ECHO, unary, type Msg } from '../helpers/grpc-echo.js';

let mesh: Mesh;
const servers: grpc.Server[] = [];

before(async () => {
  // A plaintext mesh (no control plane): the settings are the same over mTLS, and a raw HTTP/2 client can read them.
  mesh = await createMesh({ resolver: new StaticResolver(), service: 'api', telemetry: { enabled: false } });
  await mesh.start();
});

after(async () => {
  for (const s of servers) s.forceShutdown();
  await mesh?.close();
});

async function start(options: grpc.ServerOptions = {}): Promise<number> {
  const server = new grpc.Server(meshGrpcServerOptions(mesh, options));
  server.addService(ECHO, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => setTimeout(() => cb(null, { echo: call.request }), Number(call.request.delayMs ?? 0)),
  });
  servers.push(server);
  return (await serveGrpc(mesh, server, { host: '127.0.0.1', port: 0, register: false })).port;
}

async function advertisedStreams(port: number): Promise<number | undefined> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    return settings.maxConcurrentStreams;
  } finally {
    session.destroy();
  }
}

it('advertises 100 concurrent streams per connection, and the application may choose its own', async () => {
  assert.equal(await advertisedStreams(await start()), 100);
  assert.equal(await advertisedStreams(await start({ 'grpc.max_concurrent_streams': 10 })), 10);
});

it('calls past the limit on one connection wait for a stream and all succeed', async () => {
  const port = await start({ 'grpc.max_concurrent_streams': 5 });
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(client, ECHO.Unary.path, { i, delayMs: 50 }, { deadline: Date.now() + 20_000 })));
    assert.deepEqual(
      answers.map((a) => (a.echo as { i: number }).i),
      Array.from({ length: 20 }, (_, i) => i),
    );
  } finally {
    client.close();
  }
});
