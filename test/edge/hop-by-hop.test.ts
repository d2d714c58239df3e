/** Hop-by-hop fields (RFC 9110 7.6.1) never cross an edge; end-to-end ones cross as sent. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endToEndRequestHeaders, endToEndResponseHeaders, hasRequestBody } from '../../src/edge/hop-by-hop.js';

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

  it('filters response headers the same way', () => {
    const out = endToEndResponseHeaders({
      connection: 'close, x-internal',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'x-internal': 'secret',
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
      'proxy-authenticate': 'Basic',
    });
    assert.deepEqual(out, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
  });

  it('a request has a body when a framing header says so, so that GETs stay retryable', () => {
    assert.equal(hasRequestBody({}), false);
    assert.equal(hasRequestBody({ 'content-length': '0' }), false);
    assert.equal(hasRequestBody({ 'content-length': '5' }), true);
    assert.equal(hasRequestBody({ 'transfer-encoding': 'chunked' }), true);
  });
});
