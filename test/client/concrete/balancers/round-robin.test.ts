import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RoundRobinBalancer } from '../../../../src/client/concrete/balancers/round-robin.js';
import type { Balancer } from '../../../../src/client/concrete/balancer.js';
import { callWith } from './helpers.js';
import { Endpoint } from '../../../../src/client/endpoint/endpoint.js';

const call = callWith();

function endpoints(weights: number[]): Endpoint[] {
  // The pool factory is never used: a balancer only reads ids and weights.
  return weights.map(
    (weight, i) =>
      new Endpoint({ id: `10.0.0.${i + 1}:80`, address: `10.0.0.${i + 1}`, port: 80, labels: {}, weight }, () => {
        throw new Error('no pool in a balancer test');
      }),
  );
}

function picks(b: Balancer, list: readonly Endpoint[], n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(b.pick(list, call)!.id);
  return out;
}

function counts(ids: string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const id of ids) c[id] = (c[id] ?? 0) + 1;
  return c;
}

/** Longest run of the same id in a row. */
function longestRun(ids: string[]): number {
  let best = 0;
  let run = 0;
  for (let i = 0; i < ids.length; i++) {
    run = i > 0 && ids[i] === ids[i - 1] ? run + 1 : 1;
    best = Math.max(best, run);
  }
  return best;
}

describe('RoundRobinBalancer', () => {
  it('is named round_robin', () => {
    assert.equal(new RoundRobinBalancer().name, 'round_robin');
  });

  it('equal weights rotate exactly through the list, in list order', () => {
    const list = endpoints([1, 1, 1]);
    const b: Balancer = new RoundRobinBalancer();
    const seq = picks(b, list, 30);
    assert.deepEqual(counts(seq), { '10.0.0.1:80': 10, '10.0.0.2:80': 10, '10.0.0.3:80': 10 });
    const ids = list.map((e) => e.id);
    for (let i = 1; i < seq.length; i++) {
      assert.equal(seq[i], ids[(ids.indexOf(seq[i - 1]!) + 1) % ids.length], `pick ${i} follows pick ${i - 1}`);
    }
    assert.equal(longestRun(seq), 1, 'no endpoint twice in a row');
  });

  it('equal weights other than 1 are still plain rotation', () => {
    const list = endpoints([5, 5]);
    const seq = picks(new RoundRobinBalancer(), list, 20);
    assert.deepEqual(counts(seq), { '10.0.0.1:80': 10, '10.0.0.2:80': 10 });
    assert.equal(longestRun(seq), 1);
  });

  it('a single endpoint is always picked', () => {
    const list = endpoints([1]);
    assert.deepEqual(new Set(picks(new RoundRobinBalancer(), list, 10)), new Set(['10.0.0.1:80']));
  });

  it('weights 3:1 give exactly 3:1 over 400 picks, interleaved', () => {
    const list = endpoints([3, 1]);
    const seq = picks(new RoundRobinBalancer(), list, 400);
    assert.deepEqual(counts(seq), { '10.0.0.1:80': 300, '10.0.0.2:80': 100 });
    // The light endpoint comes once every 4 picks, never twice in a row.
    const light = seq.flatMap((id, i) => (id === '10.0.0.2:80' ? [i] : []));
    for (let i = 1; i < light.length; i++) assert.equal(light[i]! - light[i - 1]!, 4);
    assert.ok(longestRun(seq) <= 3);
  });

  it('weights 1:3 (heavy endpoint last) give 1:3', () => {
    const seq = picks(new RoundRobinBalancer(), endpoints([1, 3]), 400);
    assert.deepEqual(counts(seq), { '10.0.0.1:80': 100, '10.0.0.2:80': 300 });
  });

  it('weights 2:2:1 are interleaved: no endpoint twice in a row', () => {
    const seq = picks(new RoundRobinBalancer(), endpoints([2, 2, 1]), 500);
    assert.deepEqual(counts(seq), { '10.0.0.1:80': 200, '10.0.0.2:80': 200, '10.0.0.3:80': 100 });
    assert.equal(longestRun(seq), 1);
  });

  it('a heavy endpoint does not get its share in one burst (5:1:1)', () => {
    const seq = picks(new RoundRobinBalancer(), endpoints([5, 1, 1]), 700);
    assert.deepEqual(counts(seq), { '10.0.0.1:80': 500, '10.0.0.2:80': 100, '10.0.0.3:80': 100 });
    assert.ok(longestRun(seq) < 5, `longest run ${longestRun(seq)}`);
  });

  it('an empty list gives undefined, and so does a list that became empty', () => {
    const b: Balancer = new RoundRobinBalancer();
    assert.equal(b.pick([], call), undefined);
    const list = endpoints([1, 1]);
    assert.ok(b.pick(list, call));
    assert.equal(b.pick([], call), undefined);
  });

  it('a new list is used at once: removed endpoints are no longer picked, added ones are', () => {
    const b: Balancer = new RoundRobinBalancer();
    const [e1, e2, e3, e4] = endpoints([1, 1, 1, 1]);
    picks(b, [e1!, e2!, e3!], 5);
    const next = [e2!, e3!, e4!];
    const seq = picks(b, next, 30);
    assert.deepEqual(counts(seq), { '10.0.0.2:80': 10, '10.0.0.3:80': 10, '10.0.0.4:80': 10 });
  });

  it('a weight change (new list) changes the schedule', () => {
    const b: Balancer = new RoundRobinBalancer();
    const list = endpoints([1, 1]);
    picks(b, list, 3);
    const reweighted = endpoints([1, 4]);
    assert.deepEqual(counts(picks(b, reweighted, 50)), { '10.0.0.1:80': 10, '10.0.0.2:80': 40 });
  });

  it('update() precomputes for the list given to it', () => {
    const b: Balancer = new RoundRobinBalancer();
    const list = endpoints([1, 1, 1]);
    b.update!(list);
    assert.deepEqual(counts(picks(b, list, 9)), { '10.0.0.1:80': 3, '10.0.0.2:80': 3, '10.0.0.3:80': 3 });
  });

  it('many balancers do not all start on the first endpoint', () => {
    const list = endpoints([1, 1, 1, 1]);
    const firsts = new Set<string>();
    for (let i = 0; i < 200 && firsts.size < 2; i++) firsts.add((new RoundRobinBalancer() as Balancer).pick(list, call)!.id);
    assert.ok(firsts.size >= 2);
  });
});
