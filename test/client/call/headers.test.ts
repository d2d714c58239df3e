import assert from 'node:assert/strict';
import { it } from 'node:test';
import { withHeaderValues } from '../../../src/client/call/headers.js';

it("withHeaderValues sets headers on every header shape without touching the caller's", () => {
  const add = { traceparent: 'tp', baggage: 'b' };
  const obj = { Traceparent: 'old', accept: 'x' };
  const flat = ['TRACEPARENT', 'old', 'accept', 'x'];
  const pairs = new Map([
    ['accept', 'x'],
    ['traceparent', 'old'],
  ]);
  assert.equal(withHeaderValues(undefined, add), add);
  assert.deepEqual(withHeaderValues(obj, add), { accept: 'x', traceparent: 'tp', baggage: 'b' });
  assert.deepEqual(withHeaderValues(flat, add), ['accept', 'x', 'traceparent', 'tp', 'baggage', 'b']);
  // An iterable becomes an object: undici reads any array as flat [name, value, ...], so an array of pairs
  // would be refused ("headers array must be even") or misread.
  assert.deepEqual(withHeaderValues(pairs, add), { accept: 'x', traceparent: 'tp', baggage: 'b' });
  assert.deepEqual(withHeaderValues([...pairs] as unknown as string[], add), { accept: 'x', traceparent: 'tp', baggage: 'b' });
  assert.deepEqual(obj, { Traceparent: 'old', accept: 'x' });
  assert.deepEqual(flat, ['TRACEPARENT', 'old', 'accept', 'x']);
  assert.equal(withHeaderValues(obj, {}), obj, 'nothing to add: the headers themselves');
});
