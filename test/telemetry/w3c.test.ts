/** The W3C traceparent reader the mesh uses when no propagator is registered (src/telemetry/w3c.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTraceparent, parseTraceparent, traceparentOf } from '../../src/telemetry/w3c.js';

const ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

describe('parseTraceparent', () => {
  it('reads the sampled bit from every flags value', () => {
    for (let flags = 0; flags < 256; flags++) {
      const hex = flags.toString(16).padStart(2, '0');
      const sc = parseTraceparent(`00-${ID}-${SPAN}-${hex}`);
      assert.equal(sc?.traceFlags, flags & 1, `flags ${hex}`);
      assert.equal(sc?.traceId, ID);
      assert.equal(sc?.spanId, SPAN);
      assert.equal(sc?.isRemote, true);
    }
  });

  it('refuses what the spec says to ignore, and reads a future version by its first fields', () => {
    const bad = [
      `00-${ID.toUpperCase()}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${ID}-${'0'.repeat(16)}-01`,
      `ff-${ID}-${SPAN}-01`,
      `00-${ID}-${SPAN}-01-extra`,
      `00-${ID}-${SPAN}-0g`,
      `00-${ID}-${SPAN}`,
      `00_${ID}-${SPAN}-01`,
      '',
    ];
    for (const v of bad) assert.equal(parseTraceparent(v), undefined, v);
    assert.equal(parseTraceparent(`01-${ID}-${SPAN}-01-future`)?.traceFlags, 1);
    assert.equal(parseTraceparent(`  00-${ID}-${SPAN}-01 `)?.spanId, SPAN, 'surrounding whitespace');
  });

  it('refuses any character next to the hex ranges, and wide characters whose low byte is a hex digit, anywhere in the ids', () => {
    const good = `00-${ID}-${SPAN}-01`;
    // '/' ':' before and after the digits, '`' 'g' around a-f, upper case, U+0161 and U+0130 (low bytes 'a' and '0').
    const near = ['/', ':', '`', 'g', 'A', 'F', '\u0161', '\u0130'];
    for (let i = 3; i < 52; i++) {
      if (i === 35) continue;
      for (const c of near) {
        const v = good.slice(0, i) + c + good.slice(i + 1);
        assert.equal(parseTraceparent(v), undefined, `${JSON.stringify(c)} at ${i}`);
      }
    }
    assert.ok(parseTraceparent(good));
  });

  it('formats what it reads', () => {
    for (const flags of ['00', '01']) assert.equal(formatTraceparent(parseTraceparent(`00-${ID}-${SPAN}-${flags}`)!), `00-${ID}-${SPAN}-${flags}`);
  });

  it('hands the parsed header back only while the context still says the same', () => {
    const header = `00-${ID}-${SPAN}-00`;
    const sc = parseTraceparent(` ${header}`)!;
    assert.equal(traceparentOf(sc), header);
    assert.equal(traceparentOf({ ...sc, traceFlags: 1 }), `00-${ID}-${SPAN}-01`, 'a copy with other flags');
    assert.equal(traceparentOf({ ...sc, spanId: '00f067aa0ba902b7' }), `00-${ID}-00f067aa0ba902b7-00`, 'a copy with another span id');
    assert.equal(traceparentOf({ ...sc, traceId: '4bf92f3577b34da6a3ce929d0e0e4736' }), `00-4bf92f3577b34da6a3ce929d0e0e4736-${SPAN}-00`);
    // Flags with other bits set are written as the mesh writes them (sampled bit only).
    assert.equal(traceparentOf(parseTraceparent(`00-${ID}-${SPAN}-03`)!), `00-${ID}-${SPAN}-01`);
    assert.equal(traceparentOf(parseTraceparent(`01-${ID}-${SPAN}-01-x`)!), `00-${ID}-${SPAN}-01`, 'a future version is written as 00');
    assert.deepEqual(Object.keys(sc), ['traceId', 'spanId', 'traceFlags', 'isRemote']);
  });
});
