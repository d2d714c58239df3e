/** ring_hash: affinity, few keys moved when the set changes, weights, and where the key comes from. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RingHashBalancer } from '../../../../src/client/concrete/balancers/ring-hash.js';
import { callWith, endpoints, tally } from './helpers.js';

const byHeader = () => new RingHashBalancer({ header: 'x-user', virtualNodes: 256 });
const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function assign(b: RingHashBalancer, eps: Parameters<RingHashBalancer['pick']>[0]): Map<string, string> {
  return new Map(KEYS.map((k) => [k, b.pick(eps, callWith({ 'x-user': k }))!.id]));
}

describe('RingHashBalancer', () => {
  it('sends a key to the same endpoint every time, and every client builds the same ring (whatever the list order)', () => {
    const eps = endpoints([1, 1, 1, 1]);
    const a = assign(byHeader(), eps);
    const again = assign(byHeader(), [...eps].reverse());
    assert.deepEqual([...again], [...a]);
    const counts = tally([...a.values()]);
    for (const [id, n] of counts) {
      console.log(`${id}: ${n} of ${KEYS.length} keys`);
      assert.ok(Math.abs(n / KEYS.length - 0.25) < 0.05, `${id} owns ${n} keys`);
    }
  });

  for (const n of [3, 5, 10]) {
    it(`adding one endpoint to ${n} moves about 1/${n + 1} of the keys, all of them to the new endpoint`, () => {
      const eps = endpoints(Array(n + 1).fill(1));
      const b = byHeader();
      const beforeMap = assign(b, eps.slice(0, n));
      const afterMap = assign(b, eps);
      const moved = KEYS.filter((k) => beforeMap.get(k) !== afterMap.get(k));
      const share = moved.length / KEYS.length;
      console.log(`${n} -> ${n + 1} endpoints: ${(share * 100).toFixed(1)} % of keys moved (ideal ${(100 / (n + 1)).toFixed(1)} %)`);
      assert.ok(Math.abs(share - 1 / (n + 1)) < 0.05, `moved ${share}`);
      assert.ok(
        moved.every((k) => afterMap.get(k) === eps[n]!.id),
        'keys only move to the new endpoint',
      );
    });
  }

  it('removing an endpoint moves only the keys it owned', () => {
    const eps = endpoints([1, 1, 1, 1, 1]);
    const b = byHeader();
    const beforeMap = assign(b, eps);
    const afterMap = assign(b, eps.slice(1));
    for (const k of KEYS) if (beforeMap.get(k) !== eps[0]!.id) assert.equal(afterMap.get(k), beforeMap.get(k));
  });

  it('gives keys in proportion to weight', () => {
    const eps = endpoints([1, 3]);
    const counts = tally([...assign(byHeader(), eps).values()]);
    const heavy = counts.get(eps[1]!.id)! / KEYS.length;
    console.log(`weight 3 of 4: ${(heavy * 100).toFixed(1)} % of keys`);
    assert.ok(Math.abs(heavy - 0.75) < 0.05);
  });

  it('hashes a cookie by name, wherever it sits in the Cookie header', () => {
    const eps = endpoints([1, 1, 1, 1, 1, 1]);
    const b = new RingHashBalancer({ cookie: 'session', virtualNodes: 256 });
    const h = (cookie: string) => b.pick(eps, callWith({ cookie }))!.id;
    for (let i = 0; i < 50; i++) {
      const id = h(`session=s${i}`);
      assert.equal(h(`theme=dark; session=s${i}`), id);
      assert.equal(h(`session=s${i}; theme=dark`), id);
      assert.equal(h(`mysession=zzz; session=s${i}`), id, 'a cookie whose name ends in "session" is not it');
    }
    const spread = new Set(Array.from({ length: 50 }, (_, i) => h(`session=s${i}`)));
    assert.ok(spread.size >= 5, 'different sessions spread over the endpoints');
  });

  it('a request without the key goes to a random endpoint', () => {
    const eps = endpoints([1, 1, 1]);
    const b = byHeader();
    const counts = tally(Array.from({ length: 3000 }, () => b.pick(eps, callWith())!.id));
    assert.equal(counts.size, 3);
    for (const n of counts.values()) assert.ok(Math.abs(n - 1000) < 200);
  });
});
