/** readRequestHead / readResponseHead: what a strict HTTP/1.1 head reader accepts, and how it frames the body (src/core/http1/head.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIELD_SPAN, HeadError, readRequestHead, readResponseHead, type RequestHead, type ResponseHead } from '../../../src/core/http1/head.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const request = (s: string) => readRequestHead(b(s));
const response = (s: string, method = 'GET') => readResponseHead(b(s), method);

function ok<T>(r: T | HeadError | undefined): T {
  assert.ok(r !== undefined && !(r instanceof HeadError), `expected a head, got ${r instanceof HeadError ? r.reason : 'undefined'}`);
  return r;
}

function refused(r: unknown, reason: string, status?: number): void {
  assert.ok(r instanceof HeadError, `expected ${reason}, got ${r === undefined ? 'undefined' : 'a head'}`);
  assert.equal(r.reason, reason);
  if (status !== undefined) assert.equal(r.status, status);
}

describe('readRequestHead', () => {
  it('reads the request line and the fields, in order, case and duplicates kept, values trimmed', () => {
    const h: RequestHead = ok(request('GET /a?b=1 HTTP/1.1\r\nHost: api\r\nX-A:  one \r\nx-a:\ttwo\r\nEmpty:\r\n\r\nNEXT'));
    assert.equal(h.method, 'GET');
    assert.equal(h.target, '/a?b=1');
    assert.equal(h.minor, 1);
    assert.deepEqual(h.rawHeaders, ['Host', 'api', 'X-A', 'one', 'x-a', 'two', 'Empty', '']);
    assert.equal(h.headBytes, b('GET /a?b=1 HTTP/1.1\r\nHost: api\r\nX-A:  one \r\nx-a:\ttwo\r\nEmpty:\r\n\r\n').length);
    assert.deepEqual(h.framing, { kind: 'none' });
    assert.equal(h.keepAlive, true);
  });

  it('says where each field is, so that a proxy can cut a line out of the bytes without a string', () => {
    const text = 'GET / HTTP/1.1\r\nHost: api\r\nConnection:  close \r\nX: 1\r\n\r\n';
    const h = ok(request(text));
    assert.equal(h.fieldSpans.length, 3 * FIELD_SPAN);
    const [lineStart, colon, valueStart, valueEnd, cr] = h.fieldSpans.slice(FIELD_SPAN, 2 * FIELD_SPAN) as number[];
    assert.equal(text.slice(lineStart, colon), 'Connection');
    assert.equal(text.slice(valueStart, valueEnd), 'close');
    assert.equal(text.slice(cr, cr! + 2), '\r\n');
    assert.equal(text.slice(0, lineStart) + text.slice(cr! + 2), 'GET / HTTP/1.1\r\nHost: api\r\nX: 1\r\n\r\n');
  });

  it('is undefined until the blank line has come, at every split', () => {
    const whole = 'POST /x HTTP/1.1\r\nHost: api\r\nContent-Length: 3\r\n\r\n';
    for (let n = 0; n < whole.length; n++) assert.equal(request(whole.slice(0, n)), undefined, `at ${n}`);
    assert.deepEqual(ok(request(whole)).framing, { kind: 'length', length: 3 });
  });

  it('frames by Content-Length, by chunked, or as no body', () => {
    assert.deepEqual(ok(request('PUT / HTTP/1.1\r\ncontent-length: 12\r\n\r\n')).framing, { kind: 'length', length: 12 });
    assert.deepEqual(ok(request('PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n')).framing, { kind: 'none' });
    assert.deepEqual(ok(request('PUT / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n')).framing, { kind: 'chunked' });
    // Identical repeats too, as llhttp: RFC 9110 8.6 lets a recipient fold them, and a proxy that did would pass on what Node's server refuses.
    refused(request('PUT / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n'), 'conflicting-content-length', 400);
    refused(request('PUT / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n'), 'conflicting-content-length', 400);
  });

  it('refuses what two parsers could read as two different messages', () => {
    refused(request('POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n'), 'content-length-with-transfer-encoding', 400);
    refused(request('POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n'), 'conflicting-content-length', 400);
    refused(request('POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\n'), 'bad-content-length', 400);
    refused(request('POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'), 'unsupported-transfer-encoding', 501);
    refused(request('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n'), 'unsupported-transfer-encoding', 501);
    refused(request('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'), 'transfer-encoding-in-http-1.0', 400);
    refused(request('GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n'), 'obs-fold', 400);
    refused(request('GET / HTTP/1.1\r\nHost : a\r\n\r\n'), 'bad-field-name', 400);
    refused(request('GET / HTTP/1.1\nHost: a\r\n\r\n'), 'bare-lf', 400);
    refused(request('GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n'), 'bare-cr', 400);
    refused(request('GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n'), 'bad-field-value', 400);
  });

  it('refuses malformed request lines with the status a server answers', () => {
    refused(request('GET /a b HTTP/1.1\r\n\r\n'), 'bad-start-line', 400);
    refused(request('GET  HTTP/1.1\r\n\r\n'), 'bad-target', 400);
    refused(request('G(T / HTTP/1.1\r\n\r\n'), 'bad-method', 400);
    refused(request('GET /\x7f HTTP/1.1\r\n\r\n'), 'bad-target', 400);
    refused(request('GET / HTTP/2.0\r\n\r\n'), 'bad-version', 505);
    refused(request('GET / http/1.1\r\n\r\n'), 'bad-version', 505);
  });

  it('decides keep-alive as HTTP/1.0 and 1.1 do, and skips empty lines before the request', () => {
    assert.equal(ok(request('GET / HTTP/1.1\r\nConnection: Close\r\n\r\n')).keepAlive, false);
    assert.equal(ok(request('GET / HTTP/1.1\r\nConnection: x-a, close\r\n\r\n')).keepAlive, false);
    assert.equal(ok(request('GET / HTTP/1.0\r\n\r\n')).keepAlive, false);
    assert.equal(ok(request('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')).keepAlive, true);
    const h = ok(request('\r\n\r\nGET / HTTP/1.1\r\n\r\n'));
    assert.equal(h.method, 'GET');
    assert.equal(h.headBytes, 22);
  });

  it('bounds the head: bytes (431 before the blank line comes) and fields', () => {
    const limits = { maxHeadBytes: 64, maxFields: 3 };
    refused(readRequestHead(b(`GET / HTTP/1.1\r\nX: ${'a'.repeat(80)}`), limits), 'head-too-large', 431);
    refused(readRequestHead(b(`GET / HTTP/1.1\r\nX: ${'a'.repeat(50)}\r\n\r\n`), limits), 'head-too-large', 431);
    refused(readRequestHead(b('GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n'), limits), 'too-many-fields', 431);
    assert.equal(ok(readRequestHead(b('GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n'), limits)).rawHeaders.length, 6);
  });
});

describe('readResponseHead', () => {
  it('reads the status line, with or without a reason', () => {
    const h: ResponseHead = ok(response('HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno'));
    assert.equal(h.status, 404);
    assert.equal(h.reason, 'Not Found');
    assert.deepEqual(h.framing, { kind: 'length', length: 2 });
    assert.equal(h.headBytes, 45);
    assert.equal(ok(response('HTTP/1.1 200\r\n\r\n')).reason, '');
    assert.equal(ok(response('HTTP/1.1 200 \r\n\r\n')).reason, '');
    refused(response('HTTP/1.1 20\r\n\r\n'), 'bad-status');
    refused(response('HTTP/1.1 2000\r\n\r\n'), 'bad-status');
    refused(response('HTTP/1.1 099 X\r\n\r\n'), 'bad-status');
    refused(response('HTTP/1.2 200 OK\r\n\r\n'), 'bad-version');
  });

  it('has no body for HEAD, 1xx, 204 and 304, whatever the length says', () => {
    assert.deepEqual(ok(response('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD')).framing, { kind: 'none' });
    for (const status of [100, 103, 204, 304]) assert.deepEqual(ok(response(`HTTP/1.1 ${status} X\r\nContent-Length: 10\r\n\r\n`)).framing, { kind: 'none' });
  });

  it('reads to the close without a length or with codings but no chunked, and refuses chunked not last', () => {
    const close = ok(response('HTTP/1.1 200 OK\r\n\r\n'));
    assert.deepEqual(close.framing, { kind: 'close' });
    assert.equal(close.keepAlive, false);
    assert.deepEqual(ok(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n')).framing, { kind: 'close' });
    assert.deepEqual(ok(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n')).framing, { kind: 'chunked' });
    refused(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'), 'unsupported-transfer-encoding');
    refused(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n'), 'content-length-with-transfer-encoding');
  });

  it('keeps the connection as HTTP/1.0 and 1.1 say', () => {
    assert.equal(ok(response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')).keepAlive, true);
    assert.equal(ok(response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')).keepAlive, false);
    assert.equal(ok(response('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n')).keepAlive, false);
    assert.equal(ok(response('HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n')).keepAlive, true);
  });
});
