import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Listeners } from '../../src/core/events.js';

it('emit calls every listener in subscription order with the value', () => {
  const l = new Listeners<number>();
  const seen: string[] = [];
  l.on((v) => seen.push(`a${v}`));
  l.on((v) => seen.push(`b${v}`));
  l.emit(1);
  l.emit(2);
  assert.deepEqual(seen, ['a1', 'b1', 'a2', 'b2']);
  assert.equal(l.size, 2);
});

it('the disposer unsubscribes exactly that listener, and a second call is a no-op', () => {
  const l = new Listeners<number>();
  const seen: string[] = [];
  const offA = l.on(() => seen.push('a'));
  l.on(() => seen.push('b'));
  offA();
  offA();
  assert.equal(l.size, 1);
  l.emit(0);
  assert.deepEqual(seen, ['b']);
});

it('the same function subscribed twice is called twice and disposed one at a time', () => {
  const l = new Listeners<void>();
  let n = 0;
  const f = () => n++;
  const off1 = l.on(f);
  l.on(f);
  l.emit();
  assert.equal(n, 2);
  off1();
  l.emit();
  assert.equal(n, 3);
});

it('a listener that disposes itself during emit does not make the next listener skip', () => {
  const l = new Listeners<void>();
  const seen: string[] = [];
  const offA: () => void = l.on(() => {
    seen.push('a');
    offA();
  });
  l.on(() => seen.push('b'));
  l.on(() => seen.push('c'));
  l.emit();
  assert.deepEqual(seen, ['a', 'b', 'c']);
  l.emit();
  assert.deepEqual(seen, ['a', 'b', 'c', 'b', 'c']);
});

it('a listener disposed by an earlier one during emit still hears that emit, then no more', () => {
  const l = new Listeners<void>();
  const seen: string[] = [];
  let offB = () => {};
  l.on(() => {
    seen.push('a');
    offB();
  });
  offB = l.on(() => seen.push('b'));
  l.emit();
  l.emit();
  assert.deepEqual(seen, ['a', 'b', 'a']);
});

it('a listener added during emit is not called until the next emit', () => {
  const l = new Listeners<void>();
  const seen: string[] = [];
  let added = false;
  l.on(() => {
    seen.push('a');
    if (!added) {
      added = true;
      l.on(() => seen.push('late'));
    }
  });
  l.emit();
  assert.deepEqual(seen, ['a']);
  l.emit();
  assert.deepEqual(seen, ['a', 'a', 'late']);
});

it('clear removes every listener; old disposers stay harmless', () => {
  const l = new Listeners<void>();
  let n = 0;
  const off = l.on(() => n++);
  l.clear();
  assert.equal(l.size, 0);
  l.emit();
  assert.equal(n, 0);
  off();
  l.on(() => n++);
  off();
  assert.equal(l.size, 1, 'a stale disposer must not remove a later listener');
});
