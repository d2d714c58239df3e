/** Hop-by-hop fields (RFC 9110 7.6.1) never cross an edge; end-to-end ones cross as sent. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endToEndRawResponseHeaders, endToEndRequestHeaders, hasRequestBody } from '../../src/edge/hop-by-hop.js';

describe('hop-by-hop header removal', () => {
  it('drops the fixed hop-by-hop names, those the Connection header lists, and the caller-set ones, keeping order, case and duplicates', () => {
    // prettier-ignore
    const raw = [
      'Host',
      'api',
      'Connection',
      'keep-alive, X-Secret,  x-other ',
      'Keep-Alive',
      'timeout=5',
      'TE',
      'trailers',
      'Transfer-Encoding',
      'chunked',
      'Upgrade',
      'h2c',
      'Proxy-Connection',
      'keep-alive',
      'Proxy-Authorization',
      'Basic Zm9vOmJhcg==',
      'Trailer',
      'x-checksum',
      'X-Secret',
      'hop only',
      'X-Other',
      'hop only too',
      'X-Keep',
      'a',
      'traceparent',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'x-keep',
      'b',
      'X-Hyphae-Deadline-Ms',
      '100',
    ];
    const out = endToEndRequestHeaders(raw, 'keep-alive, X-Secret,  x-other ', new Set(['host', 'x-hyphae-deadline-ms']));
    assert.deepEqual(out, ['X-Keep', 'a', 'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-keep', 'b']);
  });

  it('reads every Connection line when the field is repeated', () => {
    const raw = ['X-A', '1', 'X-B', '2', 'X-C', '3'];
    assert.deepEqual(endToEndRequestHeaders(raw, ['x-a', 'X-B'], new Set()), ['X-C', '3']);
  });

  it('treats the usual Connection values, in any case, as options that name no field', () => {
    const raw = ['Close', '1', 'Keep-Alive', 'timeout=5', 'X-A', '2'];
    for (const connection of ['keep-alive', 'Keep-Alive', 'close', 'CLOSE']) {
      assert.deepEqual(endToEndRequestHeaders(raw, connection, new Set()), ['Close', '1', 'X-A', '2'], connection);
    }
    // A value of the same length that is not an option is a field name like any other.
    assert.deepEqual(endToEndRequestHeaders(raw, 'x-a', new Set()), ['Close', '1']);
    assert.deepEqual(endToEndRequestHeaders(['Keep-Alivf', '1', 'Clos3', '2'], ['keep-alivf', 'CLOS3'], new Set()), []);
  });

  it('filters the raw response headers the same way, keeping order, case and duplicates', () => {
    const raw = (...fields: string[]) => fields.map((f) => Buffer.from(f, 'latin1'));
    // prettier-ignore
    const answer = raw(
      'Connection', 'close, X-Internal',
      'Keep-Alive', 'timeout=5',
      'Transfer-Encoding', 'chunked',
      'x-internal', 'secret',
      'Content-Type', 'text/plain',
      'Set-Cookie', 'a=1',
      'set-cookie', 'b=2',
      'Proxy-Authenticate', 'Basic',
      'PROXY-CONNECTION', 'keep-alive',
      'TE', 'trailers',
      'Trailer', 'x-sum',
      'Upgrade', 'h2c',
      'X-Latin1', 'caf\u00e9',
    );
    assert.deepEqual(endToEndRawResponseHeaders(answer), ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'X-Latin1', 'caf\u00e9']);
    // Every Connection line counts; the usual value names nothing.
    assert.deepEqual(endToEndRawResponseHeaders(raw('connection', 'x-a', 'X-A', '1', 'CONNECTION', 'X-B', 'x-b', '2', 'X-C', '3')), ['X-C', '3']);
    assert.deepEqual(endToEndRawResponseHeaders(raw('Connection', 'keep-alive', 'Keep-Alive', 'timeout=60', 'Content-Length', '2')), ['Content-Length', '2']);
  });

  it('a request has a body when a framing header says so, so that GETs stay retryable', () => {
    assert.equal(hasRequestBody({}), false);
    assert.equal(hasRequestBody({ 'content-length': '0' }), false);
    assert.equal(hasRequestBody({ 'content-length': '5' }), true);
    assert.equal(hasRequestBody({ 'transfer-encoding': 'chunked' }), true);
  });
});
