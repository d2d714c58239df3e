import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallDeadline, DEADLINE_HEADER, formatDeadlineHeader, MAX_PROPAGATED_MS, parseDeadlineHeader } from '../../src/resilience/deadline.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe('deadline header', () => {
  it('is named x-hyphae-deadline-ms and carries whole remaining milliseconds', () => {
    assert.equal(DEADLINE_HEADER, 'x-hyphae-deadline-ms');
    assert.equal(formatDeadlineHeader(180.9), '180');
    assert.equal(formatDeadlineHeader(0.4), '0');
    assert.equal(formatDeadlineHeader(-5), '0');
    assert.equal(formatDeadlineHeader(10 * MAX_PROPAGATED_MS), String(MAX_PROPAGATED_MS));
  });

  it('parses plain decimal digits only; anything else is ignored (undefined)', () => {
    assert.equal(parseDeadlineHeader('250'), 250);
    assert.equal(parseDeadlineHeader(' 7 '), 7);
    assert.equal(parseDeadlineHeader('0'), 0);
    assert.equal(parseDeadlineHeader(['40', '90']), 40);
    for (const bad of [undefined, '', '-1', '1e3', '1.5', '0x10', 'abc', '12 3', '+5', '99999999999']) {
      assert.equal(parseDeadlineHeader(bad), undefined, `"${bad}"`);
    }
  });

  it('a repeated header counts by its smallest valid value (Node joins repeats with ", ")', () => {
    assert.equal(parseDeadlineHeader('100, 200'), 100);
    assert.equal(parseDeadlineHeader('300,50 , 200'), 50);
    assert.equal(parseDeadlineHeader('abc, 120'), 120);
    assert.equal(parseDeadlineHeader('0, 500'), 0);
    assert.equal(parseDeadlineHeader(['90', '40, 70']), 40);
    assert.equal(parseDeadlineHeader(['x', '60']), 60);
    for (const bad of [',', 'abc, -1', ' , ', ['', 'y']]) assert.equal(parseDeadlineHeader(bad), undefined, JSON.stringify(bad));
  });

  it('clamps a huge budget to one hour', () => {
    assert.equal(parseDeadlineHeader('999999999'), MAX_PROPAGATED_MS);
  });
});

describe('CallDeadline (one timer per call)', () => {
  function setup(at: number, perTryMs: number) {
    const clock = new FakeClock(0);
    const events: string[] = [];
    const d = new CallDeadline(clock, at, perTryMs, {
      onCallDeadline: () => events.push(`call@${clock.now()}`),
      onTryDeadline: () => events.push(`try@${clock.now()}`),
    });
    return { clock, events, d };
  }

  it('fires the call deadline once, at its instant', () => {
    const { clock, events, d } = setup(100, 0);
    assert.equal(d.remaining(), 100);
    clock.advance(99);
    assert.deepEqual(events, []);
    clock.advance(1);
    assert.deepEqual(events, ['call@100']);
    clock.advance(1000);
    assert.deepEqual(events, ['call@100']);
    assert.equal(clock.pending, 0);
  });

  it('bounds each try by perTry, then the call by its deadline, with at most one live timer', () => {
    const { clock, events, d } = setup(250, 100);
    assert.equal(d.startTry(), 100);
    assert.equal(clock.pending, 1);
    clock.advance(100);
    assert.deepEqual(events, ['try@100']);
    assert.equal(clock.pending, 1, 're-armed for the call deadline');
    clock.advance(20);
    assert.equal(d.startTry(), 100);
    assert.equal(clock.pending, 1);
    clock.advance(100);
    assert.deepEqual(events, ['try@100', 'try@220']);
    assert.equal(d.startTry(), 30, 'the last try gets what the call has left');
    clock.advance(30);
    assert.deepEqual(events, ['try@100', 'try@220', 'call@250']);
    assert.equal(clock.pending, 0);
  });

  it('a try that ends early does not fire; the stale wake-up re-arms for the call deadline', () => {
    const { clock, events, d } = setup(500, 100);
    d.startTry();
    clock.advance(10);
    d.endTry();
    const created = clock.created;
    clock.advance(90);
    assert.deepEqual(events, []);
    assert.equal(clock.created, created + 1, 'one re-arm, no timer per layer');
    clock.advance(400);
    assert.deepEqual(events, ['call@500']);
  });

  it('perTry without a call deadline: only tries are bounded', () => {
    const { clock, events, d } = setup(Infinity, 50);
    assert.equal(d.remaining(), Infinity);
    d.startTry();
    clock.advance(50);
    assert.deepEqual(events, ['try@50']);
    assert.equal(clock.pending, 0);
  });

  it('a try that starts at once costs no second timer: the first one was armed for it', () => {
    const { clock, events, d } = setup(1_000, 100);
    d.startTry();
    assert.equal(clock.created, 1);
    clock.advance(100);
    assert.deepEqual(events, ['try@100']);
  });

  it('a try that starts late (after a wait in a queue) still gets its whole per-try time', () => {
    const { clock, events, d } = setup(1_000, 100);
    clock.advance(60); // waiting for a slot
    d.startTry();
    clock.advance(40);
    assert.deepEqual(events, [], 'the early wake-up re-arms for the try');
    clock.advance(60);
    assert.deepEqual(events, ['try@160']);
  });

  it('clear() stops everything', () => {
    const { clock, events, d } = setup(100, 30);
    d.startTry();
    d.clear();
    clock.advance(1000);
    assert.deepEqual(events, []);
    assert.equal(clock.pending, 0);
  });

  it('a deadline already passed fires on the next turn', () => {
    const { clock, events } = setup(-5, 0);
    clock.advance(0);
    assert.deepEqual(events, ['call@0']);
  });
});
