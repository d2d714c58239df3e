/** least_request and peak_ewma: power of two choices on in-flight count and on latency. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeastRequestBalancer } from '../../../../src/client/concrete/balancers/least-request.js';
import { PeakEwmaBalancer } from '../../../../src/client/concrete/balancers/peak-ewma.js';
import { LatencyEwma } from '../../../../src/client/endpoint/latency.js';
import { endpoints, tally } from './helpers.js';

describe('LeastRequestBalancer', () => {
  it('never picks the endpoint with the most requests in flight when another is idle', () => {
    const eps = endpoints([1, 1, 1]);
    eps[0]!.inflight = 10;
    const b = new LeastRequestBalancer();
    const picks = tally(Array.from({ length: 3000 }, () => b.pick(eps)!.id));
    assert.equal(picks.get(eps[0]!.id), undefined, 'P2C: of any two, the busy one loses');
    assert.ok(Math.abs(picks.get(eps[1]!.id)! - 1500) < 150);
  });

  it('spreads evenly when idle, and in proportion to weights', () => {
    const eps = endpoints([1, 2, 3, 4]);
    const b = new LeastRequestBalancer();
    const n = 20_000;
    const picks = tally(Array.from({ length: n }, () => b.pick(eps)!));
    // Idle endpoints tie; the first draw (proportional to weight) wins.
    for (const e of eps) {
      const share = picks.get(e)! / n;
      console.log(`weight ${e.info.weight}: ${(share * 100).toFixed(1)} %`);
      assert.ok(Math.abs(share - e.info.weight / 10) < 0.02, `weight ${e.info.weight} got ${share}`);
    }
  });

  it('under load keeps in-flight requests in proportion to weight', () => {
    const eps = endpoints([1, 3]);
    const b = new LeastRequestBalancer();
    // Send 400 requests that never finish: each pick adds to the chosen endpoint's in-flight count.
    for (let i = 0; i < 400; i++) b.pick(eps)!.inflight++;
    console.log(`in flight with weights 1:3: ${eps[0]!.inflight} / ${eps[1]!.inflight}`);
    assert.ok(Math.abs(eps[1]!.inflight / eps[0]!.inflight - 3) < 0.2);
  });

  it('handles 0 and 1 endpoints', () => {
    const b = new LeastRequestBalancer();
    assert.equal(b.pick([]), undefined);
    const one = endpoints([1]);
    assert.equal(b.pick(one), one[0]);
  });
});

describe('PeakEwmaBalancer', () => {
  it('moves traffic away from a slow endpoint after its first slow answers', () => {
    const eps = endpoints([1, 1, 1, 1, 1]);
    const b = new PeakEwmaBalancer();
    const rtt = (e: (typeof eps)[number]) => (e === eps[4] ? 21 : 1);
    let now = performance.now();
    const picks: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const e = b.pick(eps)!;
      picks.push(e.id);
      now += 0.2;
      e.latency.observe(rtt(e), now);
    }
    const slow = picks.slice(500).filter((id) => id === eps[4]!.id).length;
    console.log(`slow endpoint got ${slow} of the last 4500 picks`);
    assert.ok(slow < 45, `the 20 ms slower endpoint still got ${slow} picks`);
  });

  it('weighs latency by in-flight requests: a fast but busy endpoint loses to a slower idle one', () => {
    const [fast, slow] = endpoints([1, 1]);
    const now = performance.now();
    fast!.latency.observe(2, now);
    slow!.latency.observe(10, now);
    fast!.inflight = 9; // cost 2 x 10 = 20 > 10 x 1
    const b = new PeakEwmaBalancer();
    assert.equal(b.pick([fast!, slow!]), slow);
    fast!.inflight = 3; // 2 x 4 = 8 < 10
    assert.equal(b.pick([fast!, slow!]), fast);
  });
});

describe('PeakEwmaBalancer with new endpoints', () => {
  it('tries an endpoint never measured at once, once, then prices it by its samples', () => {
    const [old, fresh] = endpoints([1, 1]);
    old!.latency.observe(1, performance.now());
    const b = new PeakEwmaBalancer();
    assert.equal(b.pick([old!, fresh!]), fresh, 'unmeasured and idle: probed first');
    fresh!.inflight = 1;
    assert.equal(b.pick([old!, fresh!]), old, 'while the probe is in flight it costs the default RTT (30 ms) x 2');
    fresh!.inflight = 0;
    fresh!.latency.observe(25, performance.now());
    assert.equal(b.pick([old!, fresh!]), old, 'measured slow: it loses');
  });
});

describe('PeakEwmaBalancer weights', () => {
  it('honours weights between idle endpoints of equal latency, and under load', () => {
    const eps = endpoints([1, 3]);
    const now = performance.now();
    for (const e of eps) e.latency.observe(5, now);
    const b = new PeakEwmaBalancer();
    const n = 10_000;
    const idle = tally(Array.from({ length: n }, () => b.pick(eps)!));
    console.log(`idle, weights 1:3: ${idle.get(eps[0]!)} / ${idle.get(eps[1]!)}`);
    assert.ok(Math.abs(idle.get(eps[1]!)! / n - 0.75) < 0.03);
    for (let i = 0; i < 400; i++) b.pick(eps)!.inflight++;
    console.log(`in flight, weights 1:3: ${eps[0]!.inflight} / ${eps[1]!.inflight}`);
    assert.ok(Math.abs(eps[1]!.inflight / eps[0]!.inflight - 3) < 0.2);
  });
});

describe('LatencyEwma', () => {
  it('starts at the default RTT (30 ms), which decays while unsampled', () => {
    const e = new LatencyEwma();
    const t0 = performance.now();
    assert.ok(Math.abs(e.estimate(t0) - 30) < 0.1);
    assert.ok(Math.abs(e.estimate(t0 + 10_000) - 30 / Math.E) < 0.1, 'one decay time later: 30/e');
  });

  it('a sample above the estimate replaces it (peak); lower ones blend in with time-based weight', () => {
    const e = new LatencyEwma();
    e.settings = { defaultRttMs: 30, decayMs: 10_000 };
    const t = performance.now();
    e.observe(5, t);
    assert.equal(e.estimate(t), 5, 'the first sample replaces the default');
    e.observe(50, t + 1);
    assert.ok(e.estimate(t + 1) >= 49.99, 'a peak is taken at once');
    e.observe(5, t + 10_001);
    // After one time constant: 50/e decayed, then blended with weight e^-1 towards 5.
    const decayed = 50 / Math.E;
    const expected = decayed * Math.exp(-1) + 5 * (1 - Math.exp(-1));
    assert.ok(Math.abs(e.estimate(t + 10_001) - expected) < 0.01, `${e.estimate(t + 10_001)} vs ${expected}`);
  });

  it('under load, forgets a spike after a few hundred samples rather than after the decay time', () => {
    const e = new LatencyEwma();
    let t = performance.now();
    e.observe(1, t);
    e.observe(80, (t += 0.2)); // one stall
    for (let i = 0; i < 300; i++) e.observe(1, (t += 0.2)); // 60 ms of samples every 0.2 ms
    console.log(`80 ms spike, then 300 samples of 1 ms in 60 ms: estimate ${e.estimate(t).toFixed(2)} ms`);
    assert.ok(e.estimate(t) < 1.5, `estimate ${e.estimate(t)}`);
  });
});
