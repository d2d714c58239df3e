/**
 * Mesh calls over HTTP/2 (issue 18, the client half), against plain `node:http2` servers holding mesh
 * workload certificates and registered with a real control plane: ALPN picks h2 when the server speaks it
 * and the server's SPIFFE identity is checked as on HTTP/1.1; concurrent calls share a few connections;
 * an HTTP/1.1-only server still works in `auto`; `spec.protocol` forces either protocol; an aborted call
 * and an expired deadline reset their own stream only; a GOAWAY mid-load costs no call.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import type http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../../src/index.js';
import { ErrorCode, isMeshError } from '../../../src/core/errors.js';
import { H2_CONNECTIONS } from '../../../src/client/endpoint/pool.js';
import { Http1Pool } from '../../../src/core/http1/pool.js';
import { PROTOCOL_HINT_LABEL } from '../../../src/config/protocol-hint.js';
import { call, makeTempDir, startControlPlane } from '../../helpers/control-plane.js';
import { Pki } from '../../helpers/pki.js';
import { serveRegistered, type MeshPeers, type TestServer } from '../../helpers/h2-servers.js';

let peers: MeshPeers;
let mesh: Mesh;
let dir: string;
const servers: TestServer[] = [];

before(async () => {
  const cp = await startControlPlane();
  dir = await makeTempDir('hyphae-h2-');
  const pki = new Pki(dir);
  peers = { cp, pki, ca: await pki.meshCa(cp.dataDir) };
  mesh = await createMesh(await cp.meshOptions('web'));
});

after(async () => {
  await mesh?.close();
  await Promise.all(servers.map((s) => s.close()));
  await peers?.cp.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function serve(opts: Parameters<typeof serveRegistered>[1]): Promise<TestServer> {
  const s = await serveRegistered(peers, opts);
  servers.push(s);
  return s;
}

/** Answers `<httpVersion> <path>`. */
const echo = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => void res.end(`${req.httpVersion} ${req.url}`);

async function protocolService(name: string, protocol: 'http1' | 'h2'): Promise<void> {
  const res = await call(peers.cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name }, spec: { protocol } });
  assert.equal(res.status, 200, res.text);
}

async function get(url: string, signal?: AbortSignal): Promise<string> {
  const r = await mesh.request(url, signal ? { signal } : {});
  assert.equal(r.statusCode, 200);
  return r.body.text();
}

describe('HTTP/2 between meshed processes (client)', () => {
  it('negotiates h2 with an http2 server over mTLS, and refuses a server with another identity as on HTTP/1.1', async () => {
    const s = await serve({ service: 'h2api', kind: 'h2', handler: echo });
    assert.equal(await get('http://h2api/one'), '2.0 /one');
    assert.deepEqual(s.versions, ['2.0']);

    // A server holding a valid mesh certificate of another service, registered as `impostor`.
    const wrong = await serve({ service: 'impostor', identity: 'someone-else', kind: 'h2', handler: echo });
    await assert.rejects(get('http://impostor/'), (err) => isMeshError(err, ErrorCode.PEER_IDENTITY_MISMATCH));
    assert.deepEqual(wrong.versions, [], 'no request reached the impostor');
  });

  it('many concurrent calls share a few connections', async () => {
    const s = await serve({ service: 'h2many', kind: 'h2', handler: (req, res) => void setTimeout(() => echo(req, res), 20) });
    // The first call learns that the instance speaks h2 (before that, `auto` cannot know: its first pool is
    // shaped for HTTP/1.1); from then on its calls share the HTTP/2 pool's few connections.
    assert.equal(await get('http://h2many/first'), '2.0 /first');
    const learnt = s.connections;
    const answers = await Promise.all(Array.from({ length: 120 }, (_, i) => get(`http://h2many/${i}`)));
    assert.equal(answers.length, 120);
    answers.forEach((a, i) => assert.equal(a, `2.0 /${i}`));
    const used = s.connections - learnt;
    assert.ok(used >= 1 && used <= H2_CONNECTIONS, `${used} new connections for 120 concurrent calls`);
    console.log(`120 concurrent calls over HTTP/2: ${used} connection(s)`);
  });

  it('an instance registered with the h2 protocol hint gets an HTTP/2 pool from its first call: a cold burst shares a few connections', async () => {
    const s = await serve({ service: 'h2hinted', kind: 'h2', labels: { [PROTOCOL_HINT_LABEL]: 'h2' }, handler: (req, res) => void setTimeout(() => echo(req, res), 20) });
    // No call before: without the hint, `auto` would shape the first pool for HTTP/1.1 and open a connection per call.
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => get(`http://h2hinted/${i}`)));
    answers.forEach((a, i) => assert.equal(a, `2.0 /${i}`));
    assert.ok(s.connections >= 1 && s.connections <= H2_CONNECTIONS, `${s.connections} connections for a cold burst of 60 calls`);
    console.log(`a cold burst of 60 calls to an instance with the h2 hint: ${s.connections} connection(s)`);
  });

  it('a hint that is wrong (an HTTP/1.1-only server registered as h2) costs no call, and the pool becomes HTTP/1.1-shaped', async () => {
    const s = await serve({ service: 'h1hinted', kind: 'http1', labels: { [PROTOCOL_HINT_LABEL]: 'h2' }, handler: (req, res) => void setTimeout(() => echo(req, res), 30) });
    assert.equal(await get('http://h1hinted/first'), '1.1 /first');
    const before = s.connections;
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => get(`http://h1hinted/${i}`)));
    answers.forEach((a, i) => assert.equal(a, `1.1 /${i}`));
    // Learnt: HTTP/1.1 is never pipelined, so twelve calls at once take more connections than an HTTP/2 pool's few.
    assert.ok(s.connections - before > H2_CONNECTIONS, `${s.connections - before} connections for 12 concurrent calls once HTTP/1.1 was learnt`);
  });

  it('an HTTP/1.1-only TLS server works in auto, and gets a connection per call in flight once learnt', async () => {
    const s = await serve({ service: 'h1only', kind: 'http1', handler: (req, res) => void setTimeout(() => echo(req, res), 30) });
    assert.equal(await get('http://h1only/first'), '1.1 /first');
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => get(`http://h1only/${i}`)));
    answers.forEach((a, i) => assert.equal(a, `1.1 /${i}`));
    // HTTP/1.1 is never pipelined: twelve calls at once need more connections than the HTTP/2 pool's few.
    assert.ok(s.connections > H2_CONNECTIONS, `${s.connections} connections`);
  });

  it('spec.protocol: http1 forces HTTP/1.1 on an h2 server; h2 forces h2, and fails against an HTTP/1.1-only one', async () => {
    await protocolService('forced1', 'http1');
    await protocolService('forced2', 'h2');
    await protocolService('forced2old', 'h2');
    await serve({ service: 'forced1', kind: 'h2', handler: echo });
    await serve({ service: 'forced2', kind: 'h2', handler: echo });
    const old = await serve({ service: 'forced2old', kind: 'http1', handler: echo });
    assert.equal(await get('http://forced1/a'), '1.1 /a');
    assert.equal(await get('http://forced2/b'), '2.0 /b');
    await assert.rejects(get('http://forced2old/c'), (err) => isMeshError(err, ErrorCode.TLS_HANDSHAKE_FAILED));
    assert.deepEqual(old.versions, []);
  });

  it('an aborted call resets its own stream; another stream on the same session completes', async () => {
    let slowStream: http2.ServerHttp2Stream | undefined;
    const sessionOf = new Map<string, http2.Http2Session | undefined>();
    await serve({
      service: 'h2abort',
      kind: 'h2',
      handler: (req, res) => {
        sessionOf.set(req.url, res.stream.session);
        if (req.url === '/slow') {
          slowStream = res.stream;
          res.writeHead(200);
          res.write('first chunk ');
          return; // the rest never comes: the caller aborts
        }
        setTimeout(() => echo(req, res), 100);
      },
    });
    // The first call learns h2 (auto); the next ones go on the endpoint's HTTP/2 pool.
    assert.equal(await get('http://h2abort/warm'), '2.0 /warm');
    const ac = new AbortController();
    const slow = await mesh.request('http://h2abort/slow', { signal: ac.signal });
    const other = get('http://h2abort/other');
    for await (const _chunk of slow.body) {
      ac.abort();
      break;
    }
    const closed = slowStream!.closed ? undefined : once(slowStream!, 'close');
    assert.equal(await other, '2.0 /other');
    await closed;
    // undici closes an aborted call's stream with RST_STREAM (code NO_ERROR): the server sees it aborted, unended.
    assert.equal(slowStream!.aborted, true, 'the aborted call reset its stream');
    assert.equal(slowStream!.rstCode, 0);
    const session = sessionOf.get('/slow')!;
    assert.equal(sessionOf.get('/other'), session, 'the other call was a stream of the same session');
    assert.equal(session.destroyed, false, 'which is still open');
    assert.equal(await get('http://h2abort/after'), '2.0 /after');
    assert.equal(sessionOf.get('/after'), session, 'and carries the next call');
  });

  it("a call's deadline resets its stream on h2 and fails the call; the session carries on", async () => {
    const res = await call(peers.cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'h2slow' }, spec: { timeouts: { request: '300ms' } } });
    assert.equal(res.status, 200, res.text);
    const stalled: http2.ServerHttp2Stream[] = [];
    const sessionOf = new Map<string, http2.Http2Session | undefined>();
    await serve({
      service: 'h2slow',
      kind: 'h2',
      handler: (req, res) => {
        sessionOf.set(req.url, res.stream.session);
        if (req.url === '/stall') return void stalled.push(res.stream); // never answered
        echo(req, res);
      },
    });
    assert.equal(await get('http://h2slow/warm'), '2.0 /warm');
    const started = Date.now();
    await assert.rejects(get('http://h2slow/stall'), (err) => isMeshError(err, ErrorCode.DEADLINE_EXCEEDED));
    assert.ok(Date.now() - started < 5_000, 'answered at the deadline, not at a transport timeout');
    assert.equal(stalled.length, 1, 'one attempt: a deadline is not retried');
    const stream = stalled[0]!;
    if (!stream.closed) await once(stream, 'close');
    assert.equal(stream.aborted, true, 'the expired call reset its stream');
    assert.equal(await get('http://h2slow/after'), '2.0 /after');
    assert.equal(sessionOf.get('/after'), sessionOf.get('/stall'), 'the next call went on the same session');
  });

  it('a server that sends GOAWAY mid-load costs no call: the streams it cut are retried on a new session', async () => {
    // undici 7 fails every stream still open on a graceful GOAWAY instead of letting it finish
    // (nodejs/undici#5089); the mesh retries those as resets while no response has started. So the server
    // here sends its GOAWAY at a moment when no answer is on the wire: from the 100th request on it holds
    // each new one until every worker's call is held and every earlier answer is written, then sends GOAWAY
    // and answers the held ones. Every cut stream is one it accepted and had not answered (a response cut
    // mid-body is the documented limit).
    const TOTAL = 200;
    const WORKERS = 8;
    const held: (() => void)[] = [];
    let arrivals = 0;
    let answering = 0;
    let goawayAt = -1;
    let cut = 0;
    const goawayWhenQuiet = (): void => {
      if (goawayAt >= 0 || held.length < WORKERS || answering > 0) return;
      goawayAt = s.connections;
      for (const session of s.sessions) session.close(); // GOAWAY (NO_ERROR); the session closes once its streams end
      cut = held.length;
      for (const answer of held.splice(0)) answer();
    };
    const s = await serve({
      service: 'h2goaway',
      kind: 'h2',
      handler: (req, res) => {
        const answer = (): void => {
          answering++;
          res.stream.once('close', () => {
            answering--;
            goawayWhenQuiet();
          });
          echo(req, res);
        };
        if (++arrivals < TOTAL / 2 || goawayAt >= 0) return void setTimeout(answer, 2);
        held.push(answer);
        goawayWhenQuiet();
      },
    });
    let next = 0;
    const failed: string[] = [];
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const i = next++;
        try {
          assert.equal(await get(`http://h2goaway/${i}`), `2.0 /${i}`);
        } catch (err) {
          failed.push(`${(err as { code?: string }).code}: ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    assert.deepEqual(failed, []);
    assert.equal(cut, WORKERS, "the GOAWAY went out with every worker's call accepted and unanswered");
    assert.ok(s.connections > goawayAt, `calls after the GOAWAY went to a new session (${goawayAt} -> ${s.connections} connections)`);
    console.log(`GOAWAY with ${cut} streams accepted and unanswered: ${TOTAL} calls, 0 failed, ${s.versions.length - TOTAL} retried`);
  });
});

describe('HTTP/2 and the raw HTTP/1.1 transport (http1Transport: raw)', () => {
  let raw: Mesh;
  // Calls the raw pool carried: counted on its prototype, so that a test tells it from undici's.
  let rawDispatches = 0;
  const dispatch = Http1Pool.prototype.dispatch;
  before(async () => {
    raw = await createMesh({ ...(await peers.cp.meshOptions('web')), http1Transport: 'raw' });
    Http1Pool.prototype.dispatch = function (this: Http1Pool, ...args: Parameters<typeof dispatch>) {
      rawDispatches++;
      return dispatch.apply(this, args);
    };
  });
  after(async () => {
    Http1Pool.prototype.dispatch = dispatch;
    await raw?.close();
  });
  const rawGet = async (url: string): Promise<string> => {
    const r = await raw.request(url);
    assert.equal(r.statusCode, 200);
    return r.body.text();
  };

  it('a server whose ALPN answer is h2 gets its first call over undici on that very socket, then the HTTP/2 pool', async () => {
    const s = await serve({ service: 'rawh2', kind: 'h2', handler: (req, res) => void setTimeout(() => echo(req, res), 20) });
    // The raw pool's connection came up h2: no call fails, none goes out twice.
    const first = rawDispatches;
    assert.equal(await rawGet('http://rawh2/first'), '2.0 /first');
    assert.equal(rawDispatches - first, 1, "the first call was the raw pool's, carried by undici on its socket");
    assert.deepEqual(s.versions, ['2.0']);
    const learnt = s.connections;
    const before = rawDispatches;
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => rawGet(`http://rawh2/${i}`)));
    assert.equal(rawDispatches, before, 'once h2 was learnt, no call went to the raw pool');
    answers.forEach((a, i) => assert.equal(a, `2.0 /${i}`));
    const used = s.connections - learnt;
    assert.ok(used >= 1 && used <= H2_CONNECTIONS, `${used} new connections for 40 concurrent calls once h2 was learnt`);
  });

  it('an HTTP/1.1-only TLS server is called over the raw pool: a connection per call in flight, kept alive after', async () => {
    const s = await serve({ service: 'rawh1', kind: 'http1', handler: (req, res) => void setTimeout(() => echo(req, res), 30) });
    assert.equal(await rawGet('http://rawh1/first'), '1.1 /first');
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => rawGet(`http://rawh1/${i}`)));
    answers.forEach((a, i) => assert.equal(a, `1.1 /${i}`));
    const burst = s.connections;
    assert.ok(burst > H2_CONNECTIONS, `${burst} connections for 12 calls at once`);
    // One after the other: the burst's connections are reused, none is made.
    const before = rawDispatches;
    for (let i = 0; i < 5; i++) assert.equal(await rawGet(`http://rawh1/seq${i}`), `1.1 /seq${i}`);
    assert.equal(s.connections, burst);
    assert.equal(rawDispatches - before, 5, 'each call went out on the raw pool');
  });
});
