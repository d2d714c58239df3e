/** Http1Pool against hostile servers: oversized and trickled heads, smuggling-shaped answers, bytes out of step, a server that never reads, half-open peers; and what the transport holds in memory (src/core/http1/pool.ts, connection.ts). */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { errors } from 'undici';
import { Http1Pool, type Http1PoolOptions } from '../../../src/core/http1/pool.js';
import { waitUntil } from '../../helpers/wait.js';
import { eachRequest } from './raw-requests.js';

type Err = Error & { code?: string };

interface Result {
  status: number | undefined;
  rawHeaders: Buffer[];
  body: Buffer;
  error: Err | undefined;
}

function call(pool: Http1Pool, opts: Record<string, unknown> = {}, onData?: (chunk: Buffer) => void): { done: Promise<Result>; abort: (err?: Error) => void } {
  const r: Result = { status: undefined, rawHeaders: [], body: Buffer.alloc(0), error: undefined };
  const parts: Buffer[] = [];
  let abort: (err?: Error) => void = () => {};
  let settle!: (r: Result) => void;
  const done = new Promise<Result>((resolve) => (settle = resolve));
  pool.dispatch(
    { path: '/', method: 'GET', ...opts } as never,
    {
      onConnect: (a: (err?: Error) => void) => (abort = a),
      onHeaders: (status: number, raw: Buffer[]) => {
        r.status = status;
        r.rawHeaders = raw;
        return true;
      },
      onData: (chunk: Buffer) => {
        parts.push(Buffer.from(chunk));
        onData?.(chunk);
        return true;
      },
      onComplete: () => {
        r.body = Buffer.concat(parts);
        settle(r);
      },
      onError: (err: Error) => {
        r.error = err;
        r.body = Buffer.concat(parts);
        settle(r);
      },
    } as never,
  );
  return { done, abort: (err) => abort(err) };
}

interface Served {
  origin: string;
  sockets: net.Socket[];
}

/** A raw server; `onRequest` runs once per request head read on a socket (bodies of Content-Length skipped). */
async function rawServer(t: TestContext, onRequest: (s: net.Socket, index: number, socketIndex: number) => void, options: net.ServerOpts = {}): Promise<Served> {
  const served: Served = { origin: '', sockets: [] };
  const server = net.createServer(options, (s) => {
    const socketIndex = served.sockets.push(s) - 1;
    s.on('error', () => {});
    if (options.pauseOnConnect) return;
    eachRequest(s, (_head, n) => onRequest(s, n, socketIndex));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  served.origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
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

const closed = (s: net.Socket) => (s.destroyed ? Promise.resolve() : once(s, 'close').then(() => undefined));
const GOOD = 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood';

/** Counts what Buffer.concat makes while `fn` runs: the bytes copied and the largest buffer. */
async function countingConcat<T>(fn: () => Promise<T>): Promise<{ value: T; copied: number; largest: number }> {
  const original = Buffer.concat;
  let copied = 0;
  let largest = 0;
  Buffer.concat = function (list: readonly Uint8Array[], length?: number) {
    const out = original.call(Buffer, list, length);
    copied += out.length;
    largest = Math.max(largest, out.length);
    return out;
  } as typeof Buffer.concat;
  try {
    const value = await fn();
    return { value, copied, largest };
  } finally {
    Buffer.concat = original;
  }
}

describe('Http1Pool under attack: heads', () => {
  it('a head over 16 KiB: UND_ERR_HEADERS_OVERFLOW (as undici), the connection dropped', async (t) => {
    const s = await rawServer(t, (sock) => sock.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17_000)}\r\nContent-Length: 2\r\n\r\nok`));
    const p = pool(t, s.origin);
    const r = await call(p).done;
    assert.ok(r.error instanceof errors.HeadersOverflowError, `got ${r.error?.code}`);
    assert.equal(r.error.code, 'UND_ERR_HEADERS_OVERFLOW');
    await closed(s.sockets[0]!);
  });

  it('an endless head with no line end stops at the limit', async (t) => {
    const s = await rawServer(t, (sock) => {
      // Bounded: 64 writes of 1 KiB, far past the limit; the client is gone well before the last.
      let n = 0;
      const more = () => {
        if (sock.destroyed || n++ >= 64) return;
        sock.write(n === 1 ? `HTTP/1.1 200 OK\r\nX: ${'b'.repeat(1000)}` : 'b'.repeat(1024), () => setImmediate(more));
      };
      more();
    });
    const p = pool(t, s.origin);
    const r = await call(p).done;
    assert.equal(r.error?.code, 'UND_ERR_HEADERS_OVERFLOW');
    await closed(s.sockets[0]!);
  });

  it('more than 100 fields: refused as an overflow', async (t) => {
    const fields = Array.from({ length: 101 }, (_, i) => `X-${i}: v\r\n`).join('');
    const s = await rawServer(t, (sock) => sock.write(`HTTP/1.1 200 OK\r\n${fields}Content-Length: 2\r\n\r\nok`));
    const p = pool(t, s.origin);
    const r = await call(p).done;
    assert.equal(r.error?.code, 'UND_ERR_HEADERS_OVERFLOW');
  });

  it('a 16 KiB head, its last 4 KiB trickled a byte at a time: read once whole, with copies linear in its size, not squared', async (t) => {
    const head = Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(16_384 - 200)}\r\nContent-Length: 2\r\n\r\nok`);
    assert.ok(head.length < 16_384);
    const s = await rawServer(t, (sock) => {
      // The first 12 KiB at once, the rest a byte a turn of the loop (the client reads them one by one): a copy of
      // what is held per read would be some 60 MB; bounded by the head's length.
      sock.write(head.subarray(0, 12_288));
      let at = 12_288;
      const step = () => {
        if (sock.destroyed) return;
        sock.write(head.subarray(at, at + 1));
        if (++at < head.length) setImmediate(step);
      };
      step();
    });
    const p = pool(t, s.origin);
    const { value: r, copied, largest } = await countingConcat(() => call(p).done);
    assert.equal(r.error, undefined);
    assert.equal(r.status, 200);
    assert.equal(r.rawHeaders[1]!.length, 16_384 - 200);
    assert.equal(r.body.toString(), 'ok');
    // Squared: a copy of the held bytes per read. Linear: a copy per line, a few times the head's size.
    assert.ok(copied < 8 * head.length, `copied ${copied} bytes for a ${head.length}-byte head`);
    assert.ok(largest <= head.length + 65_536, `largest held buffer ${largest}`);
  });

  it('many interim 1xx heads before the answer: each dropped, the answer read', async (t) => {
    const interim = 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(2_000);
    const s = await rawServer(t, (sock) => sock.write(interim + GOOD));
    const p = pool(t, s.origin);
    const r = await call(p).done;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'good');
  });
});

describe('Http1Pool under attack: framing', () => {
  /** What the server sends, and the code undici's parser (llhttp) gives it where it has a name for it. */
  const hostile: [string, string, string | undefined][] = [
    ['Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['two Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['a listed Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['a signed Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc', 'HPE_INVALID_CONTENT_LENGTH'],
    ['chunked before another coding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['a chunk size not hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a negative chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a 0x chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n', undefined],
    ['a chunk size over 12 hex digits', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['chunk data longer than its size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n', undefined],
    ['a bare LF in the head', 'HTTP/1.1 200 OK\nContent-Length: 3\r\n\r\nabc', 'HPE_CR_EXPECTED'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 3\r\n\r\nabc', 'HPE_INVALID_HEADER_TOKEN'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/2.0 on the status line', 'HTTP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nabc', 'HPE_INVALID_VERSION'],
  ];
  for (const [what, answer, code] of hostile) {
    it(`${what}: a parser error, the connection never reused`, async (t) => {
      const s = await rawServer(t, (sock, i, socket) => sock.write(socket === 0 && i === 0 ? answer : GOOD));
      const p = pool(t, s.origin);
      const r = await call(p).done;
      assert.ok(r.error instanceof errors.HTTPParserError, `${what}: got ${r.error?.code ?? `an answer ${r.body.toString()}`}`);
      assert.match(r.error.code ?? '', /^HPE_/);
      if (code !== undefined) assert.equal(r.error.code, code, what);
      const next = await call(p).done;
      assert.equal(next.body.toString(), 'good');
      assert.equal(s.sockets.length, 2);
    });
  }

  it('Transfer-Encoding: gzip alone: the body runs to the close, never reused', async (t) => {
    const s = await rawServer(t, (sock, _i, socket) => {
      if (socket > 0) return void sock.write(GOOD);
      sock.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n5\r\nabcde\r\n0\r\n\r\n');
    });
    const p = pool(t, s.origin);
    const r = await call(p).done;
    assert.equal(r.body.toString(), '5\r\nabcde\r\n0\r\n\r\n', 'the bytes as they came: not dechunked');
    assert.equal((await call(p).done).body.toString(), 'good');
    assert.equal(s.sockets.length, 2);
  });

  const trailing: [string, string, Record<string, unknown>][] = [
    ['a length-framed answer', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', {}],
    ['a chunked answer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', {}],
    ['a HEAD answer', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n', { method: 'HEAD' }],
    ['a 204', 'HTTP/1.1 204 No Content\r\n\r\n', {}],
  ];
  for (const [what, answer, opts] of trailing) {
    it(`bytes after ${what} (one write): not read as the next answer, the connection dropped`, async (t) => {
      const s = await rawServer(t, (sock, i, socket) => sock.write(socket === 0 && i === 0 ? `${answer}HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil` : GOOD));
      const p = pool(t, s.origin);
      const first = await call(p, opts).done;
      assert.equal(first.error, undefined);
      const next = await call(p).done;
      assert.equal(next.body.toString(), 'good');
      assert.equal(s.sockets.length, 2);
    });
  }

  it('an answer with no request on an idle connection: the connection is dropped, the next request gets its own answer', async (t) => {
    const s = await rawServer(t, (sock, i, socket) => {
      sock.write(GOOD);
      if (socket === 0 && i === 0) setImmediate(() => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil'));
    });
    const p = pool(t, s.origin);
    assert.equal((await call(p).done).body.toString(), 'good');
    await waitUntil(() => p.stats.connected === 0, 10_000, 'the stray answer seen');
    await closed(s.sockets[0]!);
    assert.equal((await call(p).done).body.toString(), 'good');
    assert.equal(s.sockets.length, 2);
  });
});

describe('Http1Pool under attack: peers that stop', () => {
  /** A request body made as it is read, up to `limit` bytes: how much was made tells what the transport took. */
  function lazyBody(limit: number): { body: Readable; made: () => number } {
    let made = 0;
    const piece = Buffer.alloc(65_536, 0x61);
    const body = new Readable({
      read() {
        if (made >= limit) return void this.push(null);
        made += piece.length;
        this.push(piece);
      },
    });
    return { body, made: () => made };
  }

  it('a server that never reads the request body: the upload stalls with bounded memory and ends by the headers timeout', async (t) => {
    const s = await rawServer(t, () => {}, { pauseOnConnect: true });
    const p = pool(t, s.origin, { headersTimeout: 300 });
    const limit = 256 * 1024 * 1024;
    const { body, made } = lazyBody(limit);
    const r = await call(p, { method: 'POST', body, headers: { 'content-length': String(limit) } }).done;
    assert.equal(r.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
    // What the kernel's buffers hold and a stream's high-water mark, not the body.
    assert.ok(made() < 64 * 1024 * 1024, `made ${made()} bytes of the body for a server that read none`);
    // Dropped on our side (the server, reading nothing, sees nothing).
    assert.equal(p.stats.connected, 0);
  });

  it('the same stalled upload ends at once on abort', async (t) => {
    const s = await rawServer(t, () => {}, { pauseOnConnect: true });
    const p = pool(t, s.origin);
    const { body, made } = lazyBody(256 * 1024 * 1024);
    const pending = call(p, { method: 'POST', body });
    await waitUntil(() => made() > 1024 * 1024, 10_000, 'the upload started');
    // Bounded: the body stops being read once the socket is full.
    let last = -1;
    await waitUntil(
      () => {
        const now = made();
        const still = now === last;
        last = now;
        return still;
      },
      5_000,
      'the upload stalled',
      50,
    );
    pending.abort();
    assert.equal((await pending.done).error?.code, 'UND_ERR_ABORTED');
    assert.ok(made() < 64 * 1024 * 1024);
  });

  it('a half-open server (FIN after the head): UND_ERR_SOCKET for a length or chunked body', async (t) => {
    const answers = ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n'];
    const s = await rawServer(t, (sock, _i, socket) => sock.end(answers[socket]!), { allowHalfOpen: true });
    const p = pool(t, s.origin);
    for (let i = 0; i < answers.length; i++) {
      const r = await call(p).done;
      assert.equal(r.error?.code, 'UND_ERR_SOCKET', answers[i]);
    }
  });

  it('a server that resets mid-body: the request fails, nothing hangs', async (t) => {
    const s = await rawServer(t, (sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc', () => sock.resetAndDestroy());
    });
    const p = pool(t, s.origin);
    const r = await call(p).done;
    assert.ok(r.error);
    assert.ok(['ECONNRESET', 'UND_ERR_SOCKET'].includes(r.error.code ?? ''), r.error.code);
  });
});

describe('Http1Pool under attack: memory', () => {
  it("the fields handed over are views of one read, not of the whole answer: holding them pins no more than a read's bytes", async (t) => {
    const body = Buffer.alloc(4 * 1024 * 1024, 0x62);
    const s = await rawServer(t, (sock) => sock.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])));
    const p = pool(t, s.origin);
    let bodyBytes = 0;
    const r = await call(p, {}, (c) => (bodyBytes += c.length)).done;
    assert.equal(r.error, undefined);
    assert.equal(bodyBytes, body.length);
    for (const h of r.rawHeaders) assert.ok(h.buffer.byteLength <= 256 * 1024, `a field pins ${h.buffer.byteLength} bytes`);
  });
});
