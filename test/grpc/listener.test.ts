/**
 * The attacker's pass on serveGrpc's listener (src/grpc/listener.ts), on real sockets: the port is ours, guarded
 * as a wrapped HTTP server's is. A peer that never finishes its TLS handshake (silent, a ClientHello cut short,
 * one dribbled a byte at a time under the deadline, which grpc-js's own TLS server held for ever) is cut at the
 * handshake deadline counted from accept; one that half-closes is closed at once; connections over
 * `maxConnections` are closed at accept; a peer with no client certificate or one from another CA is refused
 * before any HTTP/2 byte. Without mTLS the port speaks h2c only, under the same deadline. Oversized: a message
 * over grpc-js's 4 MiB receive limit.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { silentLogger } from '../../src/core/logger.js';
import { FileCaStateStore } from '../../src/control-plane/ca/ca-state.js';
import { CertificateAuthority } from '../../src/control-plane/ca/certificate-authority.js';
import { meshGrpcClient, meshGrpcServerOptions, serveGrpc } from '../../src/grpc/index.js';
import { frontStats } from '../../src/server/mtls-front.js';
import { makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { ECHO, unary, type Msg } from '../helpers/grpc-echo.js';
import { hostilePeer, waitUntil, within, type PeerKind } from '../helpers/hostile-peers.js';
import { echo, EchoClient, startEcho, type EchoInstance, type EchoRequest } from '../helpers/grpc-instances.js';

/** Short, so that the test is quick; the dribbling peer sends a byte every fifth of it. */
const DEADLINE_MS = 500;
const BYTE_EVERY_MS = 100;

let cp: RunningControlPlane;
let api: Mesh;
let web: Mesh;
let capped: Mesh;
/** `api`'s instance, with the short deadline. */
let instance: EchoInstance;
/** `capped`'s, with room for two connections and a deadline far beyond the test. */
let cappedInstance: EchoInstance;
const clients: grpc.Client[] = [];

before(async () => {
  cp = await startControlPlane();
  api = await createMesh({ ...(await cp.meshOptions('api')), logger: silentLogger, server: { drainDelayMs: 0 } });
  web = await createMesh({ ...(await cp.meshOptions('web')), logger: silentLogger });
  capped = await createMesh({ ...(await cp.meshOptions('capped')), logger: silentLogger, server: { drainDelayMs: 0 } });
  [instance, cappedInstance] = await Promise.all([startEcho(api, 'a', { tlsHandshakeTimeoutMs: DEADLINE_MS }), startEcho(capped, 'c', { maxConnections: 2, tlsHandshakeTimeoutMs: 60_000 })]);
});

after(async () => {
  for (const c of clients) c.close();
  instance?.server.forceShutdown();
  cappedInstance?.server.forceShutdown();
  await Promise.all([web?.close(), api?.close(), capped?.close()]);
  await cp?.stop();
});

function client(service: string): EchoClient {
  const { target, credentials, options } = meshGrpcClient(web, service);
  const c = new EchoClient(target, credentials, options);
  clients.push(c);
  return c;
}

async function hostile(port: number, kinds: readonly PeerKind[]) {
  return Promise.all(kinds.map((k) => hostilePeer(port, k, BYTE_EVERY_MS)));
}

it('a peer dribbling its ClientHello under the deadline is cut at the deadline from accept, as are silent and partial ones; the server goes on', async () => {
  const stats = frontStats(instance.server)!;
  const timedOut = stats.timedOut;
  const peers = await hostile(instance.port, ['slow-hello', 'silent', 'partial-hello', 'garbage']);
  try {
    const times = await within(Promise.all(peers.map((p) => p.endedByServer)), 20_000);
    assert.ok(times, `still connected after 20 s: ${peers.filter((p) => !p.ended()).map((p) => p.kind)}`);
    // Counted from accept: the dribbler's bytes do not push it back.
    assert.ok(times[0]! >= DEADLINE_MS - 50, `the dribbler was cut after ${times[0]} ms, before the deadline`);
  } finally {
    for (const p of peers) p.close();
  }
  // Three, not four: the plaintext one was refused at its first byte (STRICT).
  assert.equal(stats.timedOut - timedOut, 3, 'the dribbling, silent and partial peers were cut by the deadline');
  assert.equal((await echo(client('api'))).instance, 'a');
});

it('a peer that half-closes before saying anything, or in the middle of its ClientHello, is closed at once, not at the deadline', async () => {
  const stats = frontStats(cappedInstance.server)!;
  const timedOut = stats.timedOut;
  const peers = await hostile(cappedInstance.port, ['half-close', 'partial-hello-half-close']);
  try {
    // The deadline here is 60 s: an end before the ceiling is the half-close's doing.
    assert.ok(await within(Promise.all(peers.map((p) => p.endedByServer)), 20_000), `still connected: ${peers.filter((p) => !p.ended()).map((p) => p.kind)}`);
  } finally {
    for (const p of peers) p.close();
  }
  assert.equal(stats.timedOut, timedOut);
  await waitUntil(() => stats.pending === 0, 10_000, 'both gone from the front');
});

it('maxConnections: a connection over the cap is closed at accept while the others are held; a call works once one closes', async () => {
  const stats = frontStats(cappedInstance.server)!;
  const held = await hostile(cappedInstance.port, ['silent', 'silent']);
  try {
    await waitUntil(() => stats.pending === 2, 10_000, 'two connections held at the front');
    const [over] = await hostile(cappedInstance.port, ['silent']);
    try {
      assert.ok(await within(over!.endedByServer, 10_000), 'the third connection is closed');
    } finally {
      over!.close();
    }
    // Closed by net.Server in C++, before the front (or any JavaScript of ours) saw it.
    assert.equal(stats.pending, 2);
    assert.ok(!held[0]!.ended() && !held[1]!.ended(), 'the two held connections stay');
    held[0]!.close();
    await waitUntil(() => stats.pending === 1, 10_000, 'one held connection left');
    assert.equal((await echo(client('capped'))).instance, 'c');
  } finally {
    for (const p of held) p.close();
  }
});

/** A TLS client (offering h2 unless told otherwise): whether its handshake finished, and the bytes of HTTP/2 it got before the server closed. */
function tlsPeer(port: number, options: tls.ConnectionOptions = {}): Promise<{ secured: boolean; bytes: number }> {
  return new Promise((resolve) => {
    let secured = false;
    let bytes = 0;
    const s = tls.connect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], rejectUnauthorized: false, ...options }, () => (secured = true));
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.on('error', () => {});
    s.on('close', () => resolve({ secured, bytes }));
  });
}

it('a peer with no client certificate, or one from another CA, is refused before any HTTP/2 and never reaches a handler', async () => {
  const stats = frontStats(instance.server)!;
  const refused = stats.refused;
  const calls = instance.calls;
  const otherDir = await makeTempDir('hyphae-grpc-other-ca-');
  try {
    // The same trust domain and SPIFFE ID shape as the mesh's: only the CA differs.
    const trustDomain = new URL(web.identity()!.spiffeId!).host;
    const other = await CertificateAuthority.open({ store: new FileCaStateStore(otherDir), trustDomain, certTtlMs: 60_000, log: () => {} });
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign = {
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      cert: other.signWorkload(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'default', 'web').certificate,
    };
    const answers = await within(Promise.all([tlsPeer(instance.port), tlsPeer(instance.port, foreign)]), 20_000);
    assert.ok(answers, 'both closed by the server');
    // The handshakes finished (the front judges the certificate after it), and not one byte of HTTP/2 followed.
    assert.deepEqual(answers, [
      { secured: true, bytes: 0 },
      { secured: true, bytes: 0 },
    ]);
  } finally {
    await rm(otherDir, { recursive: true, force: true });
  }
  assert.equal(stats.refused - refused, 2);
  assert.equal(instance.calls, calls);
});

it('a mesh workload that does not ask for h2 (no ALPN) is refused after its handshake, before any HTTP/2', async () => {
  const stats = frontStats(instance.server)!;
  const refused = stats.refused;
  const { key, cert } = (await web.adapterHost().started()).security!.tls.serverMaterial()!.options;
  const answer = await within(tlsPeer(instance.port, { key, cert, ALPNProtocols: [] }), 20_000);
  assert.deepEqual(answer, { secured: true, bytes: 0 });
  assert.equal(stats.refused - refused, 1);
});

it("a message over grpc-js's 4 MiB receive limit is refused RESOURCE_EXHAUSTED before the handler; the connection goes on", async () => {
  const c = client('api');
  assert.equal((await echo(c)).instance, 'a');
  const before = instance.calls;
  const err = await echo(c, { pad: 'x'.repeat(5 * 1024 * 1024) } as EchoRequest).catch((e: unknown) => e);
  assert.equal((err as grpc.ServiceError).code, grpc.status.RESOURCE_EXHAUSTED, String(err));
  assert.equal(instance.calls, before, 'the handler never saw it');
  assert.equal((await echo(c)).instance, 'a');
});

it('tryShutdown closes the port and the connections still handshaking; forceShutdown the same', async () => {
  for (const stop of ['tryShutdown', 'forceShutdown'] as const) {
    const d = await startEcho(api, stop, { register: false });
    const stats = frontStats(d.server)!;
    const [peer] = await hostile(d.port, ['silent']);
    try {
      await waitUntil(() => stats.pending === 1, 10_000, 'the silent peer at the front');
      if (stop === 'tryShutdown') await new Promise<void>((resolve, reject) => d.server.tryShutdown((err) => (err ? reject(err) : resolve())));
      else d.server.forceShutdown();
      assert.ok(await within(peer!.endedByServer, 10_000), `${stop}: the handshaking connection is closed`);
      const refused = await new Promise<string | undefined>((resolve) => {
        const s = net.connect(d.port, '127.0.0.1', () => resolve(undefined));
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code));
      });
      assert.equal(refused, 'ECONNREFUSED', `${stop}: the port is closed`);
    } finally {
      peer!.close();
      d.server.forceShutdown();
    }
  }
});

describe('without mTLS', () => {
  let mesh: Mesh;
  let server: grpc.Server;
  let port: number;

  before(async () => {
    mesh = await createMesh({ resolver: new StaticResolver(), service: 'plain', logger: silentLogger, telemetry: { enabled: false } });
    server = new grpc.Server(meshGrpcServerOptions(mesh));
    server.addService(ECHO, { Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => cb(null, { echo: call.request }) });
    port = (await serveGrpc(mesh, server, { host: '127.0.0.1', port: 0, register: false, tlsHandshakeTimeoutMs: DEADLINE_MS })).port;
  });

  after(async () => {
    server?.forceShutdown();
    await mesh?.close();
  });

  it('the port speaks h2c only: HTTP/1.1 and a ClientHello are refused at once, a silent peer is cut at the deadline, a call is served', async () => {
    const stats = frontStats(server)!;
    const timedOut = stats.timedOut;
    const refused = stats.refused;
    const peers = await hostile(port, ['garbage', 'partial-hello', 'silent']);
    try {
      assert.ok(await within(Promise.all(peers.map((p) => p.endedByServer)), 20_000), `still connected: ${peers.filter((p) => !p.ended()).map((p) => p.kind)}`);
    } finally {
      for (const p of peers) p.close();
    }
    assert.equal(stats.refused - refused, 2, 'HTTP/1.1 and TLS refused');
    assert.equal(stats.timedOut - timedOut, 1, 'the silent one cut by the deadline');
    const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      assert.deepEqual(await unary(c, '/test.Echo/Unary', { hi: 1 }, { deadline: Date.now() + 10_000 }), { echo: { hi: 1 } });
    } finally {
      c.close();
    }
  });

  it("the mesh's server.maxConnections caps a port whose serveGrpc sets none", async () => {
    const one = await createMesh({ resolver: new StaticResolver(), service: 'plain', logger: silentLogger, telemetry: { enabled: false }, server: { maxConnections: 1 } });
    const s = new grpc.Server(meshGrpcServerOptions(one));
    s.addService(ECHO, { Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => cb(null, { echo: call.request }) });
    const { port: p } = await serveGrpc(one, s, { host: '127.0.0.1', port: 0, register: false });
    const c = new grpc.Client(`127.0.0.1:${p}`, grpc.credentials.createInsecure());
    try {
      // The client's connection is the one allowed.
      assert.deepEqual(await unary(c, '/test.Echo/Unary', { hi: 1 }, { deadline: Date.now() + 10_000 }), { echo: { hi: 1 } });
      const [over] = await hostile(p, ['silent']);
      try {
        assert.ok(await within(over!.endedByServer, 10_000), 'the second connection is closed');
      } finally {
        over!.close();
      }
      const stats = frontStats(s)!;
      assert.deepEqual([stats.pending, stats.timedOut, stats.refused], [0, 0, 0], 'closed at accept, before the front');
    } finally {
      c.close();
      s.forceShutdown();
      await one.close();
    }
  });
});
