import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSse, type SseEvent } from '../../src/discovery/sse.js';

async function* chunks(parts: (Buffer | string)[]): AsyncGenerator<Buffer | string> {
  for (const p of parts) yield p;
}

async function collect(parts: (Buffer | string)[], onActivity?: () => void): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of parseSse(chunks(parts), onActivity)) out.push(e);
  return out;
}

const STREAM = ': hello\n\n' + 'event: snapshot\ndata: {"version":1,"name":"ünïcödé ✓"}\n\n' + ':ping\n\n' + 'event: delta\ndata: {"a":1}\ndata: {"b":2}\n\n' + 'data: plain\n\n';

const EXPECTED: SseEvent[] = [
  { event: 'snapshot', data: '{"version":1,"name":"ünïcödé ✓"}' },
  { event: 'delta', data: '{"a":1}\n{"b":2}' },
  { event: 'message', data: 'plain' },
];

describe('parseSse', () => {
  it('parses events, with "message" as the default event name', async () => {
    assert.deepEqual(await collect([STREAM]), EXPECTED);
  });

  it('gives the same events however the stream is split into Buffer chunks, at any byte', async () => {
    const bytes = Buffer.from(STREAM, 'utf8');
    for (let i = 1; i < bytes.length; i++) {
      assert.deepEqual(await collect([bytes.subarray(0, i), bytes.subarray(i)]), EXPECTED, `split at byte ${i}`);
    }
  });

  it('gives the same events when every byte is its own chunk (multi-byte characters split)', async () => {
    const bytes = Buffer.from(STREAM, 'utf8');
    const parts: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) parts.push(bytes.subarray(i, i + 1));
    assert.deepEqual(await collect(parts), EXPECTED);
  });

  it('accepts string chunks split anywhere', async () => {
    for (let i = 1; i < STREAM.length; i++) {
      assert.deepEqual(await collect([STREAM.slice(0, i), STREAM.slice(i)]), EXPECTED, `split at char ${i}`);
    }
  });

  it('accepts CRLF line endings, also with CR and LF in different chunks', async () => {
    const crlf = STREAM.replaceAll('\n', '\r\n');
    assert.deepEqual(await collect([crlf]), EXPECTED);
    const bytes = Buffer.from(crlf, 'utf8');
    for (let i = 1; i < bytes.length; i++) {
      assert.deepEqual(await collect([bytes.subarray(0, i), bytes.subarray(i)]), EXPECTED, `split at byte ${i}`);
    }
  });

  it('ignores comment lines, even inside an event', async () => {
    assert.deepEqual(await collect(['event: x\n: keep-alive\ndata: 1\n:another\ndata: 2\n\n']), [{ event: 'x', data: '1\n2' }]);
    assert.deepEqual(await collect([':only a comment\n\n:and another\n\n']), []);
  });

  it('joins multi-line data with "\\n", keeping empty data lines', async () => {
    assert.deepEqual(await collect(['data: a\ndata:\ndata: c\n\n']), [{ event: 'message', data: 'a\n\nc' }]);
  });

  it('strips one space after the colon only', async () => {
    assert.deepEqual(await collect(['data:nospace\n\n', 'data:  two\n\n']), [
      { event: 'message', data: 'nospace' },
      { event: 'message', data: ' two' },
    ]);
  });

  it('keeps colons inside the value', async () => {
    assert.deepEqual(await collect(['data: {"url":"http://x:1"}\n\n']), [{ event: 'message', data: '{"url":"http://x:1"}' }]);
  });

  it('an event without data is not dispatched, and its name does not leak into the next event', async () => {
    assert.deepEqual(await collect(['event: lonely\n\ndata: x\n\n']), [{ event: 'message', data: 'x' }]);
  });

  it('ignores unknown fields (id, retry, others)', async () => {
    assert.deepEqual(await collect(['id: 7\nretry: 1000\nfoo: bar\nevent: e\ndata: d\n\n']), [{ event: 'e', data: 'd' }]);
  });

  it('an event not terminated by a blank line before the stream ends is not dispatched', async () => {
    assert.deepEqual(await collect(['data: complete\n\ndata: incomplete\n']), [{ event: 'message', data: 'complete' }]);
  });

  it('yields each event as soon as its blank line arrives', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* slow(): AsyncGenerator<string> {
      yield 'data: first\n\n';
      await gate;
      yield 'data: second\n\n';
    }
    const it = parseSse(slow());
    assert.deepEqual((await it.next()).value, { event: 'message', data: 'first' });
    release();
    assert.deepEqual((await it.next()).value, { event: 'message', data: 'second' });
    assert.equal((await it.next()).done, true);
  });

  it('calls onActivity for every chunk, comments included', async () => {
    let n = 0;
    await collect([':ping\n', '\n', ':ping\n\n', 'data: x\n\n'], () => n++);
    assert.equal(n, 4);
  });
});
