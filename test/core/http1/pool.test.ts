/** Http1Pool, the raw HTTP/1.1 transport, against real servers on 127.0.0.1: what it writes, how it frames answers, keep-alive, timeouts, pauses, aborts, close and destroy (src/core/http1/pool.ts, connection.ts, request-head.ts, exchange.ts). */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { errors, FormData } from 'undici';
import { Http1Pool, type Http1PoolOptions } from '../../../src/core/http1/pool.js';
import { waitUntil } from '../../helpers/wait.js';
import { eachRequest } from './raw-requests.js';

type Err = Error & { code?: string };

interface Result {
  status: number | undefined;
  statusText: string | undefined;
  headers: Record<string, string>;
  rawHeaders: Buffer[];
  body: Buffer;
  error: Err | undefined;
  completed: boolean;
}

interface Hooks {
  onConnect?(abort: (err?: Error) => void): void;
  onHeaders?(status: number, raw: Buffer[], resume: () => void): boolean | void;
  onData?(chunk: Buffer, abort: (err?: Error) => void): boolean | void;
}

/** One request through the pool's dispatch with a legacy handler: the answer, or the error, when settled. */
function call(pool: Http1Pool, opts: Record<string, unknown>, hooks: Hooks = {}): { done: Promise<Result>; abort: (err?: Error) => void; returned: boolean } {
  const r: Result = { status: undefined, statusText: undefined, headers: {}, rawHeaders: [], body: Buffer.alloc(0), error: undefined, completed: false };
  const parts: Buffer[] = [];
  let abort: (err?: Error) => void = () => assert.fail('abort before onConnect');
  let settle!: (r: Result) => void;
  const done = new Promise<Result>((resolve) => (settle = resolve));
  let settled = 0;
  const handler = {
    onConnect(a: (err?: Error) => void) {
      abort = a;
      hooks.onConnect?.(a);
    },
    onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string) {
      assert.equal(settled, 0, 'onHeaders after settling');
      r.status = status;
      r.statusText = statusText;
      r.rawHeaders = raw;
      for (let i = 0; i < raw.length; i += 2) r.headers[raw[i]!.toString('latin1').toLowerCase()] = raw[i + 1]!.toString('latin1');
      return hooks.onHeaders?.(status, raw, resume) ?? true;
    },
    onData(chunk: Buffer) {
      assert.equal(settled, 0, 'onData after settling');
      parts.push(Buffer.from(chunk));
      return hooks.onData?.(chunk, abort) ?? true;
    },
    onComplete() {
      settled++;
      r.completed = true;
      r.body = Buffer.concat(parts);
      settle(r);
    },
    onError(err: Error) {
      settled++;
      assert.equal(settled, 1, `onError after settling: ${err.message}`);
      r.error = err;
      r.body = Buffer.concat(parts);
      settle(r);
    },
  };
  const returned = pool.dispatch({ path: '/', method: 'GET', ...opts } as never, handler as never);
  return { done, abort: (err) => abort(err), returned };
}

async function answered(pool: Http1Pool, opts: Record<string, unknown> = {}, hooks?: Hooks): Promise<Result> {
  const r = await call(pool, opts, hooks).done;
  if (r.error) throw r.error;
  return r;
}

async function failed(pool: Http1Pool, opts: Record<string, unknown> = {}, hooks?: Hooks): Promise<Err> {
  const r = await call(pool, opts, hooks).done;
  assert.ok(r.error, `expected an error, got ${r.status} ${r.body.toString()}`);
  return r.error;
}

interface Served {
  port: number;
  origin: string;
  /** Connections accepted, in order. */
  sockets: net.Socket[];
  /** Requests read (http servers): method, url, headers, body. */
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer; socket: net.Socket }[];
}

/** A real http server; `handler` answers each request once its body is read. */
async function httpServer(t: TestContext, handler: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void): Promise<Served> {
  const served: Served = { port: 0, origin: '', sockets: [], requests: [] };
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      served.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body, socket: req.socket });
      handler(req, res, body);
    });
  });
  server.on('connection', (s: net.Socket) => served.sockets.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  served.port = (server.address() as net.AddressInfo).port;
  served.origin = `http://127.0.0.1:${served.port}`;
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return served;
}

/** A raw TCP server: `onSocket` writes what it likes. */
async function rawServer(t: TestContext, onSocket: (s: net.Socket, index: number) => void, options: net.ServerOpts = {}): Promise<Served> {
  const served: Served = { port: 0, origin: '', sockets: [], requests: [] };
  const server = net.createServer(options, (s) => {
    served.sockets.push(s);
    s.on('error', () => {});
    onSocket(s, served.sockets.length - 1);
    // A socket nobody reads never sees the peer's FIN: read (and drop) unless the test reads or pauses.
    if (s.listenerCount('data') === 0 && !s.isPaused()) s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  served.port = (server.address() as net.AddressInfo).port;
  served.origin = `http://127.0.0.1:${served.port}`;
  t.after(() => {
    for (const s of served.sockets) s.destroy();
    server.close();
  });
  return served;
}

function pool(t: TestContext, origin: string, options: Http1PoolOptions = {}): Http1Pool {
  const p = new Http1Pool(origin, options);
  t.after(() => p.destroy());
  return p;
}

/** `p`, or a failure naming `what` after `ms`: a bound that only proves nothing stalled. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([p, stalled]).finally(() => clearTimeout(timer));
}

const closed = (s: net.Socket) => (s.destroyed ? Promise.resolve() : once(s, 'close').then(() => undefined));

describe('Http1Pool: requests and bodies', () => {
  it('GET: the status, reason, fields as Buffers and the body; the head it writes', async (t) => {
    const s = await httpServer(t, (_req, res) => {
      res.setHeader('X-Two', ['a', 'b']);
      res.writeHead(201, 'Made', { 'Content-Type': 'text/plain' });
      res.end('hello');
    });
    const p = pool(t, s.origin);
    const r = await answered(p, { path: '/x?y=1', headers: { 'x-mine': 'v', 'X-Num': 7 } });
    assert.equal(r.status, 201);
    assert.equal(r.statusText, 'Made');
    assert.equal(r.body.toString(), 'hello');
    assert.ok(r.rawHeaders.every((h) => Buffer.isBuffer(h)));
    const names = r.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toString());
    assert.deepEqual(
      names.filter((n) => n === 'X-Two'),
      ['X-Two', 'X-Two'],
    );
    assert.equal(r.headers['content-type'], 'text/plain');
    const req = s.requests[0]!;
    assert.equal(req.method, 'GET');
    assert.equal(req.url, '/x?y=1');
    assert.equal(req.headers.host, `127.0.0.1:${s.port}`);
    assert.equal(req.headers['x-mine'], 'v');
    assert.equal(req.headers['x-num'], '7');
    assert.equal(req.headers['content-length'], undefined);
    assert.equal(req.headers['transfer-encoding'], undefined);
  });

  it('POST and PUT with string, Buffer, Uint8Array (a view) and Readable bodies, declared and chunked', async (t) => {
    const s = await httpServer(t, (req, res, body) => {
      res.end(JSON.stringify({ method: req.method, cl: req.headers['content-length'] ?? null, te: req.headers['transfer-encoding'] ?? null, body: body.toString('latin1') }));
    });
    const p = pool(t, s.origin);
    const backing = Buffer.from('xxVIEWyy');
    const cases: [string, unknown, Record<string, string>, { cl: string | null; te: string | null; body: string }][] = [
      ['POST', 'héllo', {}, { cl: '6', te: null, body: Buffer.from('héllo').toString('latin1') }],
      ['PUT', Buffer.from('buffer'), {}, { cl: '6', te: null, body: 'buffer' }],
      ['POST', new Uint8Array(backing.buffer, backing.byteOffset + 2, 4), {}, { cl: '4', te: null, body: 'VIEW' }],
      ['PUT', Readable.from([Buffer.from('ab'), Buffer.from('cd')]), { 'content-length': '4' }, { cl: '4', te: null, body: 'abcd' }],
      ['POST', Readable.from(['one', 'two', 'three']), {}, { cl: null, te: 'chunked', body: 'onetwothree' }],
      ['POST', undefined, {}, { cl: '0', te: null, body: '' }],
    ];
    for (const [method, body, headers, want] of cases) {
      const r = await answered(p, { method, body, headers });
      assert.deepEqual(JSON.parse(r.body.toString()), { method, ...want }, `${method} ${String(body)}`);
    }
    assert.equal(s.sockets.length, 1, 'one connection for all of them');
  });

  it('content-length mismatch: a Buffer against its header refused before anything is written; a stream longer or shorter than said fails', async (t) => {
    const s = await httpServer(t, (_req, res) => res.end('ok'));
    const p = pool(t, s.origin);
    assert.equal((await failed(p, { method: 'POST', body: 'abc', headers: { 'content-length': '5' } })).code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    assert.equal((await failed(p, { method: 'POST', headers: { 'content-length': '5' } })).code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    assert.equal(s.sockets.length, 0, 'nothing written for those');
    const longer = await failed(p, { method: 'POST', body: Readable.from([Buffer.from('abc'), Buffer.from('def')]), headers: { 'content-length': '4' } });
    assert.equal(longer.code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    const shorter = await failed(p, { method: 'POST', body: Readable.from([Buffer.from('ab')]), headers: { 'content-length': '4' } });
    assert.equal(shorter.code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    assert.equal(s.requests.length, 0, 'the server never got a whole request');
    assert.equal((await answered(p)).body.toString(), 'ok', 'and the pool still works');
  });

  it('a stream body that errors fails the request with its error', async (t) => {
    const s = await rawServer(t, () => {});
    const p = pool(t, s.origin);
    const body = new Readable({ read() {} });
    const pending = call(p, { method: 'POST', body });
    body.push('part');
    await waitUntil(() => s.sockets.length === 1, 10_000, 'connected');
    body.destroy(new Error('source broke'));
    const r = await pending.done;
    assert.equal(r.error?.message, 'source broke');
  });

  it('a queued request whose stream body errors fails with that error (no unhandled error event)', async (t) => {
    const held: http.ServerResponse[] = [];
    const s = await httpServer(t, (_req, res) => held.push(res));
    const p = pool(t, s.origin, { connections: 1 });
    const first = call(p, {});
    await waitUntil(() => held.length === 1, 10_000, 'first at the server');
    const body = new Readable({ read() {} });
    const second = call(p, { method: 'POST', body });
    assert.equal(p.stats.pending, 1);
    body.destroy(new Error('client went away'));
    assert.equal((await second.done).error?.message, 'client went away');
    held[0]!.end('one');
    assert.equal((await first.done).body.toString(), 'one');
    assert.equal(s.requests.length, 1);
  });

  it('invalid method, path or fields: UND_ERR_INVALID_ARG and nothing written', async (t) => {
    const s = await httpServer(t, (_req, res) => res.end('ok'));
    const p = pool(t, s.origin);
    const bad: Record<string, unknown>[] = [
      { method: 'GE T' },
      { method: '' },
      { path: '/a b' },
      { path: '/a\r\nx: y' },
      { path: 'nope' },
      { headers: { 'bad name': 'v' } },
      { headers: { 'x-a': 'v\r\nInjected: 1' } },
      { headers: { 'x-a': 'nul\0' } },
      { headers: { 'x-a': 'snow☃' } },
      { headers: ['x-a'] },
      { headers: { 'transfer-encoding': 'chunked' } },
      { headers: { connection: 'upgrade' } },
      { headers: { 'keep-alive': 'timeout=5' } },
      { headers: { host: ['a', 'b'] } },
      { headers: { 'content-length': 'abc' } },
    ];
    for (const opts of bad) {
      const err = await failed(p, opts);
      assert.equal(err.code, 'UND_ERR_INVALID_ARG', JSON.stringify(opts));
      assert.ok(err instanceof errors.InvalidArgumentError);
    }
    assert.equal(s.sockets.length, 0, 'no connection made for any of them');
  });

  it('a path with bytes 0x80-0xFF goes out as those bytes (latin1), as undici sends it; above 0xFF it is refused', async (t) => {
    // A raw server: Node's own refuses such a target (400), other servers take it.
    const lines: string[] = [];
    const s = await rawServer(t, (sock) =>
      eachRequest(sock, (head) => {
        lines.push(head.slice(0, head.indexOf('\r\n')));
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }),
    );
    const p = pool(t, s.origin);
    assert.equal((await answered(p, { path: '/caf\u00e9' })).body.toString(), 'ok');
    assert.deepEqual(lines, ['GET /caf\u00e9 HTTP/1.1'], 'the byte 0xE9 on the wire (the head read as latin1)');
    assert.equal((await failed(p, { path: '/snow\u2603' })).code, 'UND_ERR_INVALID_ARG');
  });
});

describe('Http1Pool: keep-alive', () => {
  it('sequential requests share one connection (counted on the server)', async (t) => {
    const s = await httpServer(t, (req, res) => res.end(req.url));
    const p = pool(t, s.origin);
    for (let i = 0; i < 5; i++) assert.equal((await answered(p, { path: `/${i}` })).body.toString(), `/${i}`);
    assert.equal(s.sockets.length, 1);
    assert.deepEqual(p.stats, { connected: 1, free: 1, pending: 0, running: 0 });
  });

  it("the server's Keep-Alive: timeout hint, less the threshold: the idle connection is closed by us before the server's timer", async (t) => {
    let idleFrom = 0;
    const s = await rawServer(t, (sock) =>
      eachRequest(sock, () => {
        sock.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=30\r\nContent-Length: 2\r\n\r\nok');
        idleFrom = performance.now();
      }),
    );
    // 30 s hinted, 29.9 s threshold: about 100 ms idle, far below both the server's 30 s and the default 4 s (a
    // busy machine's late timer still lands far inside them).
    const p = pool(t, s.origin, { keepAliveTimeoutThreshold: 29_900 });
    await answered(p);
    const sock = s.sockets[0]!;
    await once(sock, 'end');
    const idle = performance.now() - idleFrom;
    assert.ok(idle < 4_000, `closed after ${idle} ms: the hint, not the default 4 s nor the server's 30 s`);
    await waitUntil(() => p.stats.connected === 0, 10_000, 'the pool forgot it');
  });

  it('a Keep-Alive hint within the threshold: the connection is not reused, even by a request waiting for it', async (t) => {
    const s = await rawServer(t, (sock) => eachRequest(sock, () => sock.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok')));
    // 1 s hinted, 2 s threshold (undici's default): the server may close it any moment.
    const p = pool(t, s.origin, { connections: 1 });
    const [a, b] = [call(p, {}), call(p, {})];
    assert.equal((await a.done).body.toString(), 'ok');
    assert.equal((await b.done).body.toString(), 'ok');
    assert.equal(s.sockets.length, 2);
  });

  it('without a hint, keepAliveTimeout closes an idle connection', async (t) => {
    // Raw: Node's server would send its own hint (timeout=5).
    const s = await rawServer(t, (sock) => eachRequest(sock, () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')));
    const p = pool(t, s.origin, { keepAliveTimeout: 30 });
    await answered(p);
    await once(s.sockets[0]!, 'close');
    await answered(p);
    assert.equal(s.sockets.length, 2, 'the next request opened a new one');
  });

  it('reset: true and connection: close close the connection after the answer', async (t) => {
    const s = await httpServer(t, (req, res) => res.end(req.headers.connection));
    const p = pool(t, s.origin);
    assert.equal((await answered(p, { reset: true })).body.toString(), 'close');
    await closed(s.sockets[0]!);
    assert.equal((await answered(p, { headers: { Connection: 'close' } })).body.toString(), 'close');
    await closed(s.sockets[1]!);
    assert.equal((await answered(p)).body.toString(), 'keep-alive');
    assert.equal(s.sockets.length, 3);
  });

  it('a server that answers Connection: close, or HTTP/1.0 without keep-alive, is not reused', async (t) => {
    const s = await rawServer(t, (sock, i) =>
      eachRequest(sock, () => sock.write(i === 0 ? 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na' : 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb')),
    );
    const p = pool(t, s.origin);
    assert.equal((await answered(p)).body.toString(), 'a');
    assert.equal((await answered(p)).body.toString(), 'b');
    await answered(p);
    assert.equal(s.sockets.length, 3);
  });

  it('a server closing an idle keep-alive connection: once seen, the next request gets a new connection, not an error', async (t) => {
    const s = await rawServer(t, (sock) =>
      eachRequest(sock, () => {
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        sock.end();
      }),
    );
    const p = pool(t, s.origin);
    await answered(p);
    await waitUntil(() => p.stats.connected === 0, 10_000, 'the close seen');
    assert.equal((await answered(p)).body.toString(), 'ok');
    assert.equal(s.sockets.length, 2);
  });

  it('a server that closes right after reading a request: UND_ERR_SOCKET', async (t) => {
    const s = await rawServer(t, (sock) => eachRequest(sock, () => sock.end()));
    const p = pool(t, s.origin);
    const err = await failed(p);
    assert.equal(err.code, 'UND_ERR_SOCKET');
    assert.ok(err instanceof errors.SocketError);
  });

  it('connect refused: ECONNREFUSED', async (t) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    server.close();
    await once(server, 'close');
    const p = pool(t, `http://127.0.0.1:${port}`);
    assert.equal((await failed(p)).code, 'ECONNREFUSED');
    assert.equal(p.stats.connected, 0);
  });
});

describe('Http1Pool: framing the answer', () => {
  it('HEAD, 204 and 304 carry no body (their Content-Length or Transfer-Encoding notwithstanding); the connection is reused', async (t) => {
    const answers = [
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
      'HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend',
    ];
    const s = await rawServer(t, (sock) => eachRequest(sock, (_head, i) => sock.write(answers[i]!)));
    const p = pool(t, s.origin);
    const head = await answered(p, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '5');
    assert.equal(head.body.length, 0);
    assert.equal((await answered(p)).status, 204);
    assert.equal((await answered(p)).status, 304);
    assert.equal((await answered(p, { method: 'HEAD' })).body.length, 0);
    assert.equal((await answered(p)).body.toString(), 'end', 'the next answer read where it starts');
    assert.equal(s.sockets.length, 1);
  });

  it('a chunked answer written a byte at a time: one body, the connection reused', async (t) => {
    const answer = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer-A: x\r\n\r\n');
    const s = await rawServer(t, (sock) =>
      eachRequest(sock, (_head, i) => {
        if (i > 0) return void sock.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext');
        let at = 0;
        const step = () => {
          sock.write(answer.subarray(at, at + 1));
          if (++at < answer.length) setImmediate(step);
        };
        step();
      }),
    );
    const p = pool(t, s.origin);
    let reads = 0;
    const r = await answered(p, {}, { onData: () => void reads++ });
    assert.equal(r.body.toString(), 'hello 0123456789');
    assert.ok(reads >= 3, `the body came in pieces (${reads})`);
    assert.equal((await answered(p)).body.toString(), 'next');
    assert.equal(s.sockets.length, 1);
  });

  it('a close-delimited answer ends at the close; the next request opens a new connection', async (t) => {
    const s = await rawServer(t, (sock, i) =>
      eachRequest(sock, () => {
        if (i > 0) return void sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx');
        sock.write('HTTP/1.1 200 OK\r\n\r\npart one, ');
        setImmediate(() => sock.end('part two'));
      }),
    );
    const p = pool(t, s.origin);
    assert.equal((await answered(p)).body.toString(), 'part one, part two');
    assert.equal((await answered(p)).body.toString(), 'x');
    assert.equal(s.sockets.length, 2);
  });

  it('interim 100 and 103 before the final answer: only the final one reaches the handler', async (t) => {
    const s = await rawServer(t, (sock) =>
      eachRequest(sock, () => {
        sock.write('HTTP/1.1 100 Continue\r\n\r\n');
        setImmediate(() => sock.write('HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok'));
      }),
    );
    const p = pool(t, s.origin);
    const r = await answered(p);
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.rawHeaders.map((h) => h.toString()),
      ['X-Final', '1', 'Content-Length', '2'],
    );
    assert.equal(r.body.toString(), 'ok');
  });

  it('101 without an upgrade asked for is refused (an HPE_ parser error), the connection dropped', async (t) => {
    const s = await rawServer(t, (sock) => eachRequest(sock, () => sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n')));
    const p = pool(t, s.origin);
    const err = await failed(p);
    assert.ok(err instanceof errors.HTTPParserError);
    assert.match(err.code ?? '', /^HPE_/);
    await closed(s.sockets[0]!);
  });
});

describe('Http1Pool: timeouts and pauses', () => {
  it('headersTimeout: a server that never answers', async (t) => {
    const s = await rawServer(t, () => {});
    const p = pool(t, s.origin, { headersTimeout: 50 });
    const err = await failed(p);
    assert.equal(err.code, 'UND_ERR_HEADERS_TIMEOUT');
    await closed(s.sockets[0]!);
    // Per request too.
    assert.equal((await failed(pool(t, s.origin), { headersTimeout: 40 })).code, 'UND_ERR_HEADERS_TIMEOUT');
  });

  it('bodyTimeout: a body that stops coming', async (t) => {
    const s = await rawServer(t, (sock) => eachRequest(sock, () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab')));
    const p = pool(t, s.origin, { bodyTimeout: 50 });
    const r = await call(p, {}).done;
    assert.equal(r.error?.code, 'UND_ERR_BODY_TIMEOUT');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'ab');
  });

  it('headersTimeout does not cut a request body still being streamed at its own pace (as undici)', async (t) => {
    const s = await httpServer(t, (_req, res, body) => res.end(`got ${body.length}`));
    const p = pool(t, s.origin, { headersTimeout: 60 });
    const body = new Readable({ read() {} });
    const pending = call(p, { method: 'POST', body });
    body.push('first');
    // The body's end comes well after the headers timeout would have fired from the head's write.
    await new Promise((resolve) => setTimeout(resolve, 200));
    body.push('last');
    body.push(null);
    const r = await pending.done;
    assert.equal(r.error, undefined);
    assert.equal(r.body.toString(), 'got 9');
  });

  it('onData returning false pauses the socket until resume: bytes taken stay bounded while the server keeps writing', async (t) => {
    const total = 16 * 1024 * 1024;
    // Bytes the server's kernel took (each 64 KiB write's callback), the next written only then: bounded by total.
    let flushed = 0;
    const s = await httpServer(t, (_req, res) => {
      res.writeHead(200, { 'Content-Length': total });
      const piece = Buffer.alloc(65_536, 7);
      const next = (): void => {
        if (flushed >= total) return void res.end();
        res.write(piece, () => {
          flushed += piece.length;
          next();
        });
      };
      next();
    });
    const p = pool(t, s.origin);
    let received = 0;
    let paused = false;
    let atPause = 0;
    let resume!: () => void;
    const pending = call(
      p,
      {},
      {
        onHeaders: (_s, _r, r) => void (resume = r),
        onData: (chunk) => {
          received += chunk.length;
          if (received < 256 * 1024 || paused) return true;
          paused = true;
          atPause = received;
          return false;
        },
      },
    );
    await waitUntil(() => paused, 10_000, 'paused');
    // The server gets well ahead of what the handler took: the kernel holds the rest, not us.
    await waitUntil(() => flushed > atPause + 1024 * 1024, 10_000, 'the server wrote on');
    assert.equal(received, atPause, 'nothing delivered while paused');
    resume();
    const r = await pending.done;
    assert.equal(r.error, undefined);
    assert.equal(r.body.length, total);
  });

  it('a pause in onHeaders (body bytes in the same read) holds no body timeout until resume', async (t) => {
    const s = await rawServer(t, (sock) =>
      eachRequest(sock, () => {
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab');
      }),
    );
    const p = pool(t, s.origin, { bodyTimeout: 40 });
    let resume!: () => void;
    let headers = false;
    const pending = call(
      p,
      {},
      {
        onHeaders: (_s, _r, r) => {
          resume = r;
          headers = true;
          return false;
        },
      },
    );
    await waitUntil(() => headers, 10_000, 'headers');
    // Paused for longer than the body timeout: a slow reader is not a slow server.
    const early = await Promise.race([pending.done, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 150))]);
    assert.equal(early, undefined, `settled while paused: ${early?.error?.code}`);
    resume();
    s.sockets[0]!.write('cd');
    const r = await pending.done;
    assert.equal(r.error, undefined);
    assert.equal(r.body.toString(), 'abcd');
  });
});

describe('Http1Pool: aborts', () => {
  it('aborted in onConnect: told at once, nothing connects', async (t) => {
    const s = await httpServer(t, (_req, res) => res.end('ok'));
    const p = pool(t, s.origin);
    const err = await failed(p, {}, { onConnect: (abort) => abort() });
    assert.equal(err.code, 'UND_ERR_ABORTED');
    assert.equal((await answered(p)).body.toString(), 'ok');
    assert.equal(s.requests.length, 1);
  });

  it('aborted while connecting: told, and the connection made serves the next request', async (t) => {
    const s = await httpServer(t, (_req, res) => res.end('ok'));
    const p = pool(t, s.origin);
    const pending = call(p, {});
    pending.abort();
    assert.equal((await pending.done).error?.code, 'UND_ERR_ABORTED');
    await waitUntil(() => p.stats.connected === 1, 10_000, 'connected');
    assert.equal((await answered(p)).body.toString(), 'ok');
    assert.equal(s.sockets.length, 1);
    assert.equal(s.requests.length, 1);
  });

  it('a connection made for an aborted request still closes when idle (keepAliveTimeout)', async (t) => {
    const s = await rawServer(t, () => {});
    const p = pool(t, s.origin, { keepAliveTimeout: 30 });
    const pending = call(p, {});
    pending.abort();
    await pending.done;
    await waitUntil(() => s.sockets.length === 1, 10_000, 'connected');
    await within(once(s.sockets[0]!, 'end'), 10_000, 'the idle connection closed by us');
    await waitUntil(() => p.stats.connected === 0, 10_000, 'the pool forgot it');
  });

  it('aborted while queued (connections: 1): told at once, never written', async (t) => {
    const held: http.ServerResponse[] = [];
    const s = await httpServer(t, (req, res) => (req.url === '/hold' ? held.push(res) : res.end(req.url)));
    const p = pool(t, s.origin, { connections: 1 });
    const first = call(p, { path: '/hold' });
    const second = call(p, { path: '/queued' });
    await waitUntil(() => held.length === 1, 10_000, 'first request at the server');
    assert.equal(p.stats.pending, 1);
    second.abort();
    assert.equal((await second.done).error?.code, 'UND_ERR_ABORTED');
    held[0]!.end('first');
    assert.equal((await first.done).body.toString(), 'first');
    assert.equal((await answered(p, { path: '/third' })).body.toString(), '/third');
    assert.deepEqual(
      s.requests.map((r) => r.url),
      ['/hold', '/third'],
    );
    assert.equal(s.sockets.length, 1);
  });

  it('aborted while waiting for the head: the connection is closed', async (t) => {
    let heads = 0;
    const s = await rawServer(t, (sock) => eachRequest(sock, () => void heads++));
    const p = pool(t, s.origin);
    const pending = call(p, {});
    await waitUntil(() => heads === 1, 10_000, 'the request at the server');
    pending.abort(new Error('mine'));
    assert.equal((await pending.done).error?.message, 'mine');
    await closed(s.sockets[0]!);
    assert.equal(p.stats.connected, 0);
  });

  it('aborted mid-body: no more data, the connection closed', async (t) => {
    const s = await rawServer(t, (sock) => eachRequest(sock, () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst')));
    const p = pool(t, s.origin);
    const r = await call(p, {}, { onData: (_c, abort) => abort() }).done;
    assert.equal(r.error?.code, 'UND_ERR_ABORTED');
    assert.equal(r.body.toString(), 'first');
    await closed(s.sockets[0]!);
  });

  it('undici.request with an AbortSignal', async (t) => {
    const s = await rawServer(t, () => {});
    const p = pool(t, s.origin);
    const ac = new AbortController();
    const pending = p.request({ path: '/', method: 'GET', signal: ac.signal });
    await waitUntil(() => s.sockets.length === 1, 10_000, 'connected');
    ac.abort();
    await assert.rejects(pending, (err: Err) => err.name === 'AbortError' || err.code === 'UND_ERR_ABORTED');
  });
});

describe('Http1Pool: bounds, close and destroy', () => {
  it('connections bounds the sockets; the rest queue and are all answered', async (t) => {
    let inFlight = 0;
    let most = 0;
    const held: http.ServerResponse[] = [];
    const s = await httpServer(t, (req, res) => {
      most = Math.max(most, ++inFlight);
      held.push(res);
      res.on('finish', () => inFlight--);
    });
    const p = pool(t, s.origin, { connections: 2 });
    const all = Array.from({ length: 6 }, (_, i) => call(p, { path: `/${i}` }));
    let answeredCount = 0;
    // Bounded: 6 requests, 2 at a time.
    for (let round = 0; round < 6 && answeredCount < 6; round++) {
      await waitUntil(() => held.length > 0, 10_000, 'a request at the server');
      assert.ok(p.stats.connected <= 2);
      held.shift()!.end('x');
      answeredCount++;
    }
    const results = await Promise.all(all.map((c) => c.done));
    assert.ok(results.every((r) => r.completed));
    assert.equal(most, 2);
    assert.equal(s.sockets.length, 2);
  });

  it('close() waits for the request in flight, then closes the idle sockets; later requests are refused', async (t) => {
    const held: http.ServerResponse[] = [];
    const s = await httpServer(t, (_req, res) => held.push(res));
    const p = pool(t, s.origin);
    const inflight = call(p, {});
    await waitUntil(() => held.length === 1, 10_000, 'at the server');
    const order: string[] = [];
    const closing = p.close().then(() => order.push('closed'));
    void inflight.done.then(() => order.push('answered'));
    assert.equal((await failed(p)).code, 'UND_ERR_CLOSED');
    held[0]!.end('late');
    await closing;
    assert.deepEqual(order, ['answered', 'closed']);
    assert.equal((await inflight.done).body.toString(), 'late');
    await closed(s.sockets[0]!);
  });

  it('destroy() fails what is in flight and what is queued; later requests are refused', async (t) => {
    const s = await rawServer(t, () => {});
    const p = new Http1Pool(s.origin, { connections: 1 });
    const inflight = call(p, {});
    const queued = call(p, {});
    await waitUntil(() => s.sockets.length === 1, 10_000, 'connected');
    await p.destroy();
    assert.equal((await inflight.done).error?.code, 'UND_ERR_DESTROYED');
    assert.equal((await queued.done).error?.code, 'UND_ERR_DESTROYED');
    assert.equal((await failed(p)).code, 'UND_ERR_DESTROYED');
    await closed(s.sockets[0]!);
  });

  it('destroy() while the connection is being made fails that request too', async (t) => {
    const s = await rawServer(t, () => {});
    const p = new Http1Pool(s.origin);
    const pending = call(p, {});
    void p.destroy();
    const r = await within(pending.done, 10_000, 'the request settled');
    assert.equal(r.error?.code, 'UND_ERR_DESTROYED');
  });

  it('a handler whose onData throws: the request fails with that error; the pool goes on', async (t) => {
    const s = await httpServer(t, (_req, res) => res.end('body'));
    const p = pool(t, s.origin);
    const r = await call(
      p,
      {},
      {
        onData: () => {
          throw new Error('onData broke');
        },
      },
    ).done;
    assert.equal(r.error?.message, 'onData broke');
    assert.equal((await answered(p)).body.toString(), 'body');
  });

  it('a handler whose onComplete throws hears of it in onError (as undici); the pool goes on', async (t) => {
    const s = await httpServer(t, (_req, res) => res.end('body'));
    const p = pool(t, s.origin);
    const seen: string[] = [];
    const told = new Promise<void>((resolve) => {
      p.dispatch({ path: '/', method: 'GET' }, {
        onConnect() {},
        onHeaders: () => true,
        onData: () => true,
        onComplete() {
          seen.push('complete');
          throw new Error('onComplete broke');
        },
        onError(err: Error) {
          seen.push(err.message);
          resolve();
        },
      } as never);
    });
    await told;
    assert.deepEqual(seen, ['complete', 'onComplete broke']);
    assert.equal((await answered(p)).body.toString(), 'body');
  });

  it('a handler whose onConnect throws: the request fails with that error, and close() still resolves', async (t) => {
    const s = await httpServer(t, (_req, res) => res.end('ok'));
    const p = new Http1Pool(s.origin);
    const r = await call(
      p,
      {},
      {
        onConnect: () => {
          throw new Error('handler broke');
        },
      },
    ).done;
    assert.equal(r.error?.message, 'handler broke');
    await within(p.close(), 10_000, 'close() resolved');
  });
});

describe('Http1Pool: the helpers and the undici fallback', () => {
  it("undici's request() and stream() helpers over the pool", async (t) => {
    const s = await httpServer(t, (req, res, body) => res.end(`${req.method} ${body.toString()}`));
    const p = pool(t, s.origin);
    const r = await p.request({ path: '/', method: 'POST', body: 'abc' });
    assert.equal(r.statusCode, 200);
    assert.equal(await r.body.text(), 'POST abc');
    const parts: Buffer[] = [];
    const { Writable } = await import('node:stream');
    await p.stream({ path: '/', method: 'PUT', body: 'xyz' }, () => new Writable({ write: (c: Buffer, _e, cb) => (parts.push(c), cb()) }));
    assert.equal(Buffer.concat(parts).toString(), 'PUT xyz');
  });

  it('a stream() factory that throws rejects the call (it does not throw out of the socket)', async (t) => {
    const s = await httpServer(t, (_req, res) => res.end('ok'));
    const p = pool(t, s.origin);
    await assert.rejects(
      p.stream({ path: '/', method: 'GET' }, () => {
        throw new Error('factory broke');
      }),
      /factory broke/,
    );
    assert.equal((await answered(p)).body.toString(), 'ok', 'the pool still works');
  });

  it('upgrade, expectContinue and FormData go over undici and are answered', async (t) => {
    const s = await httpServer(t, (req, res, body) => res.end(`${req.headers['content-type']?.split(';')[0]} ${body.length > 0}`));
    const p = pool(t, s.origin);
    // FormData: multipart, written by undici (its own FormData: Node 20's global one is another undici's, which undici 7's Pool
    // fails to write as well).
    const form = new FormData();
    form.set('a', 'b');
    const f = await p.request({ path: '/', method: 'POST', body: form as never });
    assert.equal(await f.body.text(), 'multipart/form-data true');
    // expectContinue: Node's server answers 100 on its own.
    const e = await p.request({ path: '/', method: 'POST', body: 'x', expectContinue: true, headers: { 'content-type': 'text/plain' } });
    assert.equal(await e.body.text(), 'text/plain true');
    // An Expect header is undici's NotSupportedError, as it would be without this pool.
    await assert.rejects(p.request({ path: '/', method: 'POST', body: 'x', headers: { expect: '100-continue' } }), (err: Err) => err.code === 'UND_ERR_NOT_SUPPORTED');
  });

  it('an upgrade goes over undici: the socket handed over', async (t) => {
    const srv = http.createServer();
    srv.on('upgrade', (_req, sock: net.Socket) => {
      sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
      sock.pipe(sock);
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    t.after(() => {
      srv.closeAllConnections();
      srv.close();
    });
    const p = pool(t, `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`);
    const up = (await p.upgrade({ path: '/', protocol: 'echo' })) as unknown as { socket: net.Socket };
    up.socket.write('ping');
    const [echoed] = (await once(up.socket, 'data')) as [Buffer];
    assert.equal(echoed.toString(), 'ping');
    up.socket.destroy();
  });

  it('close() after destroy() with the undici fallback made: rejects with UND_ERR_DESTROYED, nothing unhandled', async (t) => {
    const s = await httpServer(t, (_req, res) => res.end('ok'));
    const p = new Http1Pool(s.origin);
    const e = await p.request({ path: '/', method: 'POST', body: 'x', expectContinue: true });
    await e.body.text();
    await p.destroy();
    await assert.rejects(within(p.close(), 10_000, 'close() settled'), (err: Err) => err.code === 'UND_ERR_DESTROYED');
  });
});
