import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventSink, Listeners } from '../../src/core/events.js';

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

describe('EventSink: one sink per mesh, typed channels', () => {
  interface Events {
    retry: { decision: string };
    ejection: { endpoint: string };
  }

  it('each channel reaches its own subscribers, in order, with the call the event is about', () => {
    const sink = new EventSink<Events, { id: number }>();
    const seen: string[] = [];
    sink.on('retry', (e, call) => seen.push(`a:${e.decision}:${call?.id}`));
    sink.on('retry', (e) => seen.push(`b:${e.decision}`));
    sink.on('ejection', (e) => seen.push(`ej:${e.endpoint}`));
    sink.emit('retry', { decision: 'retry' }, { id: 7 });
    sink.emit('ejection', { endpoint: 'x' });
    assert.deepEqual(seen, ['a:retry:7', 'b:retry', 'ej:x']);
  });

  it('has() says whether anyone listens, so a layer builds an event only then', () => {
    const sink = new EventSink<Events>();
    assert.equal(sink.has('retry'), false);
    const off = sink.on('retry', () => {});
    assert.equal(sink.has('retry'), true);
    assert.equal(sink.has('ejection'), false);
    off();
    off();
    assert.equal(sink.has('retry'), false);
  });

  it('a throwing subscriber is reported by name and the others still run', () => {
    const errors: string[] = [];
    const sink = new EventSink<Events>((name, err) => errors.push(`${name}:${(err as Error).message}`));
    let after = 0;
    sink.on('retry', () => {
      throw new Error('boom');
    });
    sink.on('retry', () => after++);
    sink.emit('retry', { decision: 'retry' });
    sink.emit('retry', { decision: 'retry' });
    assert.equal(after, 2);
    assert.deepEqual(errors, ['retry:boom', 'retry:boom']);
  });

  it('a subscriber may unsubscribe while the event is delivered', () => {
    const sink = new EventSink<Events>();
    const seen: string[] = [];
    const off = sink.on('retry', () => {
      seen.push('once');
      off();
    });
    sink.on('retry', () => seen.push('always'));
    sink.emit('retry', { decision: 'r' });
    sink.emit('retry', { decision: 'r' });
    assert.deepEqual(seen, ['once', 'always', 'always']);
  });
});
