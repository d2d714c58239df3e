import assert from 'node:assert/strict';
import { it } from 'node:test';
import { withHeaders } from '../../../src/client/filters/telemetry.js';

it("withHeaders sets propagation headers on every header shape without touching the caller's", () => {
  const add = { traceparent: 'tp', baggage: 'b' };
  const obj = { Traceparent: 'old', accept: 'x' };
  const flat = ['TRACEPARENT', 'old', 'accept', 'x'];
  const pairs = new Map([
    ['accept', 'x'],
    ['traceparent', 'old'],
  ]);
  const base = { origin: 'http://api', path: '/', method: 'GET' as const };
  assert.deepEqual(withHeaders({ ...base }, add).headers, add);
  assert.deepEqual(withHeaders({ ...base, headers: obj }, add).headers, { accept: 'x', traceparent: 'tp', baggage: 'b' });
  assert.deepEqual(withHeaders({ ...base, headers: flat }, add).headers, ['accept', 'x', 'traceparent', 'tp', 'baggage', 'b']);
  // An iterable becomes an object: undici reads any array as flat [name, value, ...], so an array of pairs
  // would be refused ("headers array must be even") or misread.
  assert.deepEqual(withHeaders({ ...base, headers: pairs }, add).headers, { accept: 'x', traceparent: 'tp', baggage: 'b' });
  assert.deepEqual(withHeaders({ ...base, headers: [...pairs] as unknown as string[] }, add).headers, { accept: 'x', traceparent: 'tp', baggage: 'b' });
  assert.deepEqual(obj, { Traceparent: 'old', accept: 'x' });
  assert.deepEqual(flat, ['TRACEPARENT', 'old', 'accept', 'x']);
  const opts = { ...base, headers: obj };
  assert.notEqual(withHeaders(opts, add), opts, 'a copy of the options');
  assert.equal(opts.headers, obj);
});
