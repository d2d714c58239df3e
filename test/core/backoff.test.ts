import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullJitter, sleep } from '../../src/core/backoff.js';

describe('fullJitter', () => {
  const base = { baseMs: 25, maxMs: 250 };

  it('is 0 when random() is 0, whatever the attempt', () => {
    for (let a = 0; a < 40; a++) assert.equal(fullJitter(a, { ...base, random: () => 0 }), 0);
  });

  it('the ceiling doubles per attempt from baseMs and is capped at maxMs', () => {
    // random() just under 1 gives ceiling - 1 (floor of a value just under the ceiling).
    const top = { ...base, random: () => 0.999999 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 10].map((a) => fullJitter(a, top)),
      [24, 49, 99, 199, 249, 249, 249],
    );
  });

  it('scales linearly with random() under the ceiling', () => {
    assert.equal(fullJitter(0, { ...base, random: () => 0.5 }), 12);
    assert.equal(fullJitter(2, { ...base, random: () => 0.5 }), 50);
    assert.equal(fullJitter(9, { ...base, random: () => 0.5 }), 125);
  });

  it('stays an integer in [0, maxMs) for huge attempt numbers (no overflow to Infinity or NaN)', () => {
    for (const a of [31, 64, 1000, 1e9]) {
      const v = fullJitter(a, { baseMs: 1000, maxMs: 60_000, random: () => 0.999 });
      assert.ok(Number.isInteger(v) && v >= 0 && v < 60_000, `attempt ${a}: ${v}`);
    }
  });

  it('with the real Math.random stays within bounds', () => {
    for (let i = 0; i < 500; i++) {
      const a = i % 8;
      const v = fullJitter(a, base);
      assert.ok(Number.isInteger(v) && v >= 0 && v < Math.min(250, 25 * 2 ** a), `attempt ${a}: ${v}`);
    }
  });
});

describe('sleep', () => {
  it('resolves after about the given time', async () => {
    const t0 = performance.now();
    await sleep(30);
    // Timers may fire a millisecond early by rounding, never much earlier.
    assert.ok(performance.now() - t0 >= 28);
  });

  it('rejects at once with the signal reason when already aborted', async () => {
    const reason = new Error('stop');
    const t0 = performance.now();
    await assert.rejects(sleep(10_000, AbortSignal.abort(reason)), (e) => e === reason);
    assert.ok(performance.now() - t0 < 1_000);
  });

  it('rejects with the reason when aborted while sleeping, without waiting the full time', async () => {
    const ac = new AbortController();
    const reason = new Error('cancelled');
    const t0 = performance.now();
    const p = sleep(10_000, ac.signal);
    setTimeout(() => ac.abort(reason), 20);
    await assert.rejects(p, (e) => e === reason);
    assert.ok(performance.now() - t0 < 1_000);
  });

  it('an abort clears the timer, so an aborted long sleep does not keep the process alive', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    assert.equal(timers(), before + 1);
    ac.abort(new Error('stop'));
    await assert.rejects(p);
    assert.equal(timers(), before);
  });

  it('removes its abort listener once it resolves, so a later abort is harmless', async () => {
    const ac = new AbortController();
    let listeners = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => {
      listeners++;
      add(...args);
    }) as AbortSignal['addEventListener'];
    ac.signal.removeEventListener = ((...args: Parameters<AbortSignal['removeEventListener']>) => {
      listeners--;
      remove(...args);
    }) as AbortSignal['removeEventListener'];
    await sleep(5, ac.signal);
    assert.equal(listeners, 0);
    ac.abort(new Error('late'));
  });
});
