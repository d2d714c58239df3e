/**
 * wrapServer with HTTP/2 servers (issue 18), on real sockets: an
 * http2.createSecureServer({ allowHTTP1 }) behind the mesh's mTLS front
 * (ALPN h2 and http/1.1, the mesh's workload certificate, SPIFFE peers), and
 * an http2.createServer() (h2c with prior knowledge) in PERMISSIVE mode; the
 * inbound layers on HTTP/2 streams: identity, stripped identity headers,
 * deadline intake, load shedding, the refusal guard, telemetry (the span's
 * network.protocol.version); and the
 * core 'stream' API's guard.
 */
import assert from 'node:assert/strict';
import http2, { type Http2SecureServer, type Http2Server } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Agent, request } from 'undici';
import { currentRequestContext } from '../../src/resilience/request-context.js';
import { REFUSED_HEADER } from '../../src/resilience/refusal.js';
import { getPeer } from '../../src/server/peer.js';
import { frontStats } from '../../src/server/mtls-front.js';
import { wrappedState } from '../../src/server/wrap-server.js';
import { MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
import { h2Request, listenWrapped, sessionClosed, testCa, tlsSession, type TestCa } from '../helpers/h2-server.js';
import { slowRequest, within } from '../helpers/hostile-peers.js';
import { TestInbound, type Creds } from '../helpers/inbound-tls.js';
import { TestPolicySource } from '../helpers/policy-source.js';
import { policy } from './authz/authz-cases.js';

interface Seen {
  version: string;
  peer: string | undefined;
  encrypted: boolean;
  headers: http2.IncomingHttpHeaders;
  url: string;
  remainingMs: number | undefined;
}

function handlerFor(seen: Seen[], held: Set<() => void>) {
  return (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    seen.push({
      version: req.httpVersion,
      peer: getPeer(req)?.id,
      encrypted: Boolean((req.socket as tls.TLSSocket).encrypted),
      headers: { ...req.headers },
      url: req.url,
      remainingMs: currentRequestContext()?.remaining(),
    });
    if (req.url === '/hold') {
      held.add(() => res.end('held'));
      return;
    }
    // A handler copying a downstream refusal header: the refusal guard must drop it.
    if (req.url === '/copy-refusal') res.setHeader(REFUSED_HEADER, 'shed');
    res.end('ok');
  };
}

describe('wrapServer with an HTTP/2 secure server behind the mTLS front', () => {
  let ca: TestCa;
  let inbound: TestInbound;
  let client: Creds;
  let server: Http2SecureServer;
  let port: number;
  const seen: Seen[] = [];
  const held = new Set<() => void>();
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const telemetry = new MeshTelemetry({ service: 'api', tracerProvider });
  /** network.protocol.version of the last SERVER span ended (the response's 'close' ends it). */
  const lastServerVersion = async () => {
    while (!exporter.getFinishedSpans().some((sp) => sp.kind === SpanKind.SERVER)) await new Promise((r) => setImmediate(r));
    const version = exporter.getFinishedSpans().findLast((sp) => sp.kind === SpanKind.SERVER)!.attributes['network.protocol.version'];
    exporter.reset();
    return version;
  };
  const agents: Agent[] = [];

  before(async () => {
    ca = await testCa();
    inbound = new TestInbound(ca.issue('api'), ca.roots);
    client = ca.issue('web');
    // The server's own certificate is none: the mesh's front supplies the workload's.
    server = http2.createSecureServer({ allowHTTP1: true }, handlerFor(seen, held) as never);
    port = await listenWrapped(server, { tls: async () => inbound, telemetry }, { maxConcurrent: 1 });
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    for (const release of held) release();
    await new Promise<void>((r) => server.close(() => r()));
    await tracerProvider.shutdown();
    await ca.close();
  });

  it('h2 (undici allowH2) with a workload certificate: 200, getPeer is the caller, identity headers stripped', async () => {
    const agent = new Agent({ allowH2: true, connect: { ...client, ca: ca.roots, checkServerIdentity: () => undefined } });
    agents.push(agent);
    const res = await request(`https://127.0.0.1:${port}/items/../x`, { dispatcher: agent, headers: { 'x-hyphae-peer': 'spiffe://td/ns/default/sa/admin', 'x-forwarded-client-cert': 'By=x' } });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'ok');
    const s = seen.at(-1)!;
    assert.equal(s.version, '2.0');
    assert.equal(s.peer, 'spiffe://td/ns/default/sa/web');
    assert.equal(s.encrypted, true);
    assert.equal(s.url, '/x', 'the handler sees the normalized path');
    assert.equal(s.headers['x-hyphae-peer'], undefined);
    assert.equal(s.headers['x-forwarded-client-cert'], undefined);
    assert.equal(await lastServerVersion(), '2', 'the SERVER span says HTTP/2 as semantic conventions spell it');
    assert.equal(telemetry.traffic.inbound.inflight, 0, 'the telemetry layer saw the stream end');
  });

  it('the same port answers HTTP/1.1 (ALPN http/1.1), with the same identity', async () => {
    const agent = new Agent({ connect: { ...client, ca: ca.roots, checkServerIdentity: () => undefined } });
    agents.push(agent);
    const res = await request(`https://127.0.0.1:${port}/one`, { dispatcher: agent });
    assert.equal(await res.body.text(), 'ok');
    assert.equal(seen.at(-1)!.version, '1.1');
    assert.equal(seen.at(-1)!.peer, 'spiffe://td/ns/default/sa/web');
    assert.equal(await lastServerVersion(), '1.1');
  });

  it('a caller without a client certificate is refused before HTTP/2 starts', async () => {
    const refusedBefore = frontStats(server)!.refused;
    const before = seen.length;
    const session = tlsSession(port, ca.roots);
    await assert.rejects(h2Request(session, { ':path': '/' }));
    await sessionClosed(session);
    assert.equal(frontStats(server)!.refused, refusedBefore + 1);
    assert.equal(seen.length, before, 'no handler ran');
  });

  it('a caller that finishes mTLS with ALPN h2 and then says nothing is cut at the header deadline', async () => {
    const quick = http2.createSecureServer({ allowHTTP1: true }, () => assert.fail('no request'));
    const quickPort = await listenWrapped(quick, { tls: async () => inbound }, { headersTimeoutMs: 300 });
    try {
      const socket = tls.connect({ port: quickPort, host: '127.0.0.1', ...client, ca: ca.roots, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
      socket.on('error', () => {});
      // It reads what the server sends (its SETTINGS, then the end): an unread socket never sees 'end' or 'close'.
      socket.resume();
      await new Promise((r) => socket.once('secureConnect', r));
      assert.equal(socket.alpnProtocol, 'h2');
      const started = performance.now();
      await new Promise((r) => socket.once('close', r));
      assert.ok(performance.now() - started >= 200, 'not before the deadline');
      assert.equal(wrappedState(quick)!.h2!.silentCut, 1);
    } finally {
      await new Promise<void>((r) => quick.close(() => r()));
    }
  });

  it('deadline intake, the refusal guard and load shedding on HTTP/2 streams', async () => {
    const session = tlsSession(port, ca.roots, client);
    try {
      const spent = await h2Request(session, { ':path': '/d', 'x-hyphae-deadline-ms': '0' });
      assert.equal(spent.status, 504);
      assert.equal(spent.headers[REFUSED_HEADER], 'deadline');
      const budget = await h2Request(session, { ':path': '/d', 'x-hyphae-deadline-ms': '5000' });
      assert.equal(budget.status, 200);
      const left = seen.at(-1)!.remainingMs!;
      assert.ok(left > 0 && left <= 5_000, `the handler runs in the caller's budget (${left} ms left)`);
      const copied = await h2Request(session, { ':path': '/copy-refusal' });
      assert.equal(copied.headers[REFUSED_HEADER], undefined, 'only the mesh may say it refused');
      // maxConcurrent 1: while one stream is held, the next is shed.
      const holding = h2Request(session, { ':path': '/hold' });
      while (held.size === 0) await new Promise((r) => setImmediate(r));
      const shed = await h2Request(session, { ':path': '/d' });
      assert.equal(shed.status, 503);
      assert.equal(shed.headers[REFUSED_HEADER], 'shed');
      for (const release of held) release();
      held.clear();
      assert.equal((await holding).body, 'held');
    } finally {
      session.close();
    }
  });
});

describe('wrapServer with an h2c server (http2.createServer) in PERMISSIVE mode', () => {
  let ca: TestCa;
  let server: Http2Server;
  let port: number;
  const seen: Seen[] = [];

  before(async () => {
    ca = await testCa();
    const inbound = new TestInbound(ca.issue('api'), ca.roots);
    inbound.set('PERMISSIVE');
    server = http2.createServer(handlerFor(seen, new Set()) as never);
    port = await listenWrapped(server, { tls: async () => inbound });
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await ca.close();
  });

  it('plaintext with prior knowledge reaches the handler without a peer; mTLS h2 with one', async () => {
    const plain = http2.connect(`http://127.0.0.1:${port}`);
    plain.on('error', () => {});
    const secure = tlsSession(port, ca.roots, ca.issue('web'));
    try {
      assert.equal((await h2Request(plain, { ':path': '/p', 'x-hyphae-peer-identity': 'forged' })).status, 200);
      assert.deepEqual([seen.at(-1)!.peer, seen.at(-1)!.encrypted, seen.at(-1)!.headers['x-hyphae-peer-identity']], [undefined, false, undefined]);
      assert.equal((await h2Request(secure, { ':path': '/s' })).status, 200);
      assert.deepEqual([seen.at(-1)!.peer, seen.at(-1)!.encrypted, seen.at(-1)!.version], ['spiffe://td/ns/default/sa/web', true, '2.0']);
    } finally {
      plain.close();
      secure.close();
    }
  });
});

describe('wrapServer with an h2c server given allowHTTP1 anyway, in PERMISSIVE mode', () => {
  it('a plaintext HTTP/1.1 request is refused at the front (Node 24 throws on it out of any handler); h2c still works', async () => {
    const ca = await testCa();
    const inbound = new TestInbound(ca.issue('api'), ca.roots);
    inbound.set('PERMISSIVE');
    const seen: Seen[] = [];
    // Not in Node's types for a plaintext server, but a JavaScript caller can pass it.
    const server = http2.createServer({ allowHTTP1: true } as http2.ServerOptions, handlerFor(seen, new Set()) as never);
    const port = await listenWrapped(server, { tls: async () => inbound });
    const socket = net.connect(port, '127.0.0.1');
    const get = slowRequest(socket, 'GET /p HTTP/1.1\r\nHost: x\r\n\r\n', '', 1_000);
    const plain = http2.connect(`http://127.0.0.1:${port}`);
    plain.on('error', () => {});
    try {
      assert.notEqual(await within(get.endedByServer, 30_000), undefined, 'the connection is closed');
      assert.equal(get.received(), '', 'nothing answered it');
      assert.equal(seen.length, 0);
      assert.equal((await h2Request(plain, { ':path': '/h2c' })).status, 200);
      assert.equal(frontStats(server)?.refused, 1);
    } finally {
      get.close();
      plain.close();
      await new Promise<void>((r) => server.close(() => r()));
      await ca.close();
    }
  });
});

describe('wrapServer with an HTTP/2 secure server that also takes HTTP/1.1 (allowHTTP1), in PERMISSIVE mode', () => {
  it('a plaintext HTTP/1.1 request whose first packet is the single byte "P" is served as HTTP/1.1, not taken for h2c', async () => {
    const ca = await testCa();
    const inbound = new TestInbound(ca.issue('api'), ca.roots);
    inbound.set('PERMISSIVE');
    const seen: Seen[] = [];
    // A secure server: Node has an HTTP/1.1 fallback (allowHTTP1) for those only; PERMISSIVE lets plaintext in.
    const server = http2.createSecureServer({ allowHTTP1: true }, handlerFor(seen, new Set()) as never);
    const port = await listenWrapped(server, { tls: async () => inbound });
    const socket = net.connect(port, '127.0.0.1');
    // "P" alone, then the rest a byte at a time: "P" is also how the HTTP/2 preface ("PRI * HTTP/2.0") starts.
    const post = slowRequest(socket, 'P', 'OST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 2);
    try {
      assert.notEqual(await within(post.endedByServer, 30_000), undefined, 'answered and closed');
      assert.match(post.received(), /^HTTP\/1\.1 200 /);
      assert.deepEqual([seen.at(-1)?.version, seen.at(-1)?.encrypted], ['1.1', false]);
    } finally {
      post.close();
      await new Promise<void>((r) => server.close(() => r()));
      await ca.close();
    }
  });
});

describe("wrapServer with HTTP/2's core API ('stream' listeners)", () => {
  it('streams are stripped, checked, normalized and authorized before the handler', async () => {
    const source = new TestPolicySource();
    source.set([policy('allow-public', 'ALLOW', [{ to: { paths: [{ type: 'PathPrefix', value: '/public' }] } }])]);
    const seen: { path: unknown; forged: unknown }[] = [];
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      seen.push({ path: headers[':path'], forged: headers['x-hyphae-peer'] });
      stream.respond({ ':status': 200 });
      stream.end('core');
    });
    const port = await listenWrapped(server, { policies: source });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    try {
      const ok = await h2Request(session, { ':path': '/public/a/../b', 'x-hyphae-peer': 'forged' });
      assert.deepEqual([ok.status, ok.body], [200, 'core']);
      assert.deepEqual(seen, [{ path: '/public/b', forged: undefined }]);
      const denied = await h2Request(session, { ':path': '/public/../admin' });
      assert.equal(denied.status, 403);
      // nghttp2 lets this through; the pseudo-header check does not (host names another authority).
      const bad = await h2Request(session, { ':path': '/public', ':authority': 'api', host: 'admin' });
      assert.equal(bad.status, 400);
      assert.equal(seen.length, 1, 'neither reached the handler');
    } finally {
      session.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
