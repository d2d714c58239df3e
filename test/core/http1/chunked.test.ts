/** ChunkedReader: a chunked body's end and data, in any splits (src/core/http1/chunked.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkError, ChunkedReader } from '../../../src/core/http1/chunked.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Reads `body` in the given pieces; the data read and the end index in the whole body, or the error. */
function readIn(body: string, cuts: number[]): { data: string; end: number } | ChunkError {
  const r = new ChunkedReader();
  const whole = b(body);
  let data = '';
  let from = 0;
  for (const to of [...cuts, whole.length]) {
    const piece = whole.subarray(from, to);
    const end = r.read(piece, 0, (d) => (data += d.toString('latin1')));
    if (end instanceof ChunkError) return end;
    if (r.done) return { data, end: from + end };
    assert.equal(end, piece.length);
    from = to;
  }
  return { data, end: -1 };
}

const BODY = '5\r\nhello\r\n1;ext=1\r\n \r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 1\r\n\r\n';

describe('ChunkedReader', () => {
  it('reads the data and stops at the end, leaving the next message', () => {
    const r = readIn(`${BODY}GET / HTTP/1.1`, []);
    assert.deepEqual(r, { data: 'hello 0123456789abcdef', end: BODY.length });
  });

  it('gives the same data and end at every split, and byte by byte', () => {
    for (let cut = 0; cut <= BODY.length; cut++) assert.deepEqual(readIn(BODY, [cut]), { data: 'hello 0123456789abcdef', end: BODY.length }, `cut at ${cut}`);
    assert.deepEqual(
      readIn(
        BODY,
        Array.from({ length: BODY.length - 1 }, (_, i) => i + 1),
      ),
      { data: 'hello 0123456789abcdef', end: BODY.length },
    );
  });

  it('reads from an offset into a buffer', () => {
    const r = new ChunkedReader();
    const buf = b(`HEAD${BODY}`);
    assert.equal(r.read(buf, 4), buf.length);
    assert.ok(r.done);
  });

  it('refuses what is not chunked framing', () => {
    const bad = (body: string) => {
      const r = readIn(body, []);
      assert.ok(r instanceof ChunkError, `${JSON.stringify(body)} was accepted`);
      return r.reason;
    };
    assert.equal(bad('x\r\n'), 'bad-chunk-size');
    assert.equal(bad('\r\n'), 'bad-chunk-size');
    assert.equal(bad('-1\r\n'), 'bad-chunk-size');
    assert.equal(bad('5\nhello\r\n'), 'bad-chunk-size');
    assert.equal(bad('5 \r\nhello'), 'bad-chunk-size');
    assert.equal(bad('1000000000000\r\n'), 'chunk-too-large');
    assert.equal(bad('5\r\nhelloXX'), 'bad-chunk-end');
    assert.equal(bad('1;a=\x01\r\n'), 'bad-chunk-extension');
    assert.equal(bad('0\r\n folded: x\r\n\r\n'), 'bad-trailer');
    assert.equal(bad('0\r\nX\x00: y\r\n\r\n'), 'bad-trailer');
    assert.equal(bad('0\r\n\rx'), 'bad-trailer');
  });

  it('bounds a size line (leading zeros included) and the trailers', () => {
    const long = new ChunkedReader({ maxSizeLineBytes: 64, maxTrailerBytes: 64 });
    const zeros = long.read(b('0'.repeat(100)), 0);
    assert.ok(zeros instanceof ChunkError && zeros.reason === 'size-line-too-long');
    const ext = new ChunkedReader({ maxSizeLineBytes: 64, maxTrailerBytes: 64 }).read(b(`1;${'e'.repeat(100)}`), 0);
    assert.ok(ext instanceof ChunkError && ext.reason === 'size-line-too-long');
    const trailers = new ChunkedReader({ maxSizeLineBytes: 64, maxTrailerBytes: 64 }).read(b(`0\r\nX: ${'v'.repeat(100)}`), 0);
    assert.ok(trailers instanceof ChunkError && trailers.reason === 'trailer-too-large');
    const fine = new ChunkedReader({ maxSizeLineBytes: 64, maxTrailerBytes: 64 });
    assert.equal(fine.read(b(`${'0'.repeat(60)}5\r\nhello\r\n0\r\n\r\n`), 0), 75);
  });
});
