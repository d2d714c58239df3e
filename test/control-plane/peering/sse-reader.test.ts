/** The peer link's SSE reader, fed byte by byte and in odd chunks: events whole, bounds kept, bad UTF-8 refused. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isMeshError } from '../../../src/core/errors.js';
import { SseReader } from '../../../src/control-plane/peering/sse-reader.js';
import { SSE_PING, sseEvent } from '../../../src/control-plane/watch/sse.js';

it('reads what the watch hub writes, whatever the chunking (a character split across chunks included)', () => {
  const wire = Buffer.from(sseEvent('hello', { heartbeatMs: 200 }) + SSE_PING + sseEvent('exports', { cluster: 'dc2', note: 'zoë ✓' }));
  for (const size of [1, 2, 3, 7, wire.length]) {
    const reader = new SseReader(1024);
    const events = [];
    for (let i = 0; i < wire.length; i += size) events.push(...reader.push(wire.subarray(i, i + size)));
    assert.deepEqual(
      events.map((e) => [e.event, JSON.parse(e.data)]),
      [
        ['hello', { heartbeatMs: 200 }],
        ['exports', { cluster: 'dc2', note: 'zoë ✓' }],
      ],
      `chunks of ${size}`,
    );
  }
});

it('refuses an event past the bound, whether its end has arrived or not, and bytes that are not UTF-8', () => {
  const open = new SseReader(100);
  assert.throws(
    () => open.push(Buffer.from(`data: ${'x'.repeat(200)}`)),
    (err) => isMeshError(err, 'HYPHAE_ERR_PEER_DATA_REJECTED') && /more than 100 bytes/.test(err.message),
  );
  const closed = new SseReader(100);
  assert.throws(() => closed.push(Buffer.from(`data: ${'x'.repeat(200)}\n\n`)), /more than 100 bytes/);
  const ok = new SseReader(100);
  assert.equal(ok.push(Buffer.from(`data: ${'x'.repeat(50)}\n\n`)).length, 1);
  assert.throws(() => new SseReader(100).push(Buffer.from([0x64, 0x61, 0xff, 0xfe])), /not UTF-8/);
});
