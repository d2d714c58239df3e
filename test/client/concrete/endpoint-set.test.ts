import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pool } from 'undici';
import { EndpointSet } from '../../../src/client/concrete/endpoint-set.js';
import type { Endpoint, PoolFactory } from '../../../src/client/endpoint/endpoint.js';
import type { EndpointInfo } from '../../../src/discovery/resolver.js';

function info(port: number, extra: Partial<EndpointInfo> = {}): EndpointInfo {
  return { id: `127.0.0.1:${port}`, address: '127.0.0.1', port, labels: {}, weight: 1, ...extra };
}

/** Real undici pools (never connected: nothing is sent), remembered so the test can see them closed. */
function recordingFactory(): { factory: PoolFactory; pools: Map<string, Pool> } {
  const pools = new Map<string, Pool>();
  return {
    pools,
    factory: (origin) => {
      const p = new Pool(origin);
      pools.set(origin, p);
      return p;
    },
  };
}

describe('EndpointSet', () => {
  it('starts empty', () => {
    const set = new EndpointSet();
    assert.equal(set.size, 0);
    assert.deepEqual(set.list, []);
    assert.equal(set.get('127.0.0.1:1'), undefined);
  });

  it('reset creates one endpoint per info, in order, reachable by id', async () => {
    const set = new EndpointSet(recordingFactory().factory);
    set.reset([info(1), info(2), info(3)]);
    assert.equal(set.size, 3);
    assert.deepEqual(
      set.list.map((e) => e.id),
      ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'],
    );
    assert.equal(set.get('127.0.0.1:2'), set.list[1]);
    assert.equal(set.list[0]!.origin, 'http://127.0.0.1:1');
    await set.close();
  });

  it('duplicate ids in one reset give one endpoint', async () => {
    const set = new EndpointSet(recordingFactory().factory);
    set.reset([info(1), info(1, { weight: 9 }), info(2)]);
    assert.deepEqual(
      set.list.map((e) => e.id),
      ['127.0.0.1:1', '127.0.0.1:2'],
    );
    await set.close();
  });

  it('reset keeps the same Endpoint object (and its pool) for an id that stays', async () => {
    const { factory, pools } = recordingFactory();
    const set = new EndpointSet(factory);
    set.reset([info(1), info(2)]);
    const kept = set.get('127.0.0.1:1')!;
    const pool = kept.pool;
    kept.inflight = 3;
    set.reset([info(3), info(1)]);
    assert.equal(set.get('127.0.0.1:1'), kept);
    assert.equal(kept.closed, false);
    assert.equal(kept.pool, pool, 'warm pool kept');
    assert.equal(pool.closed, false);
    assert.equal(kept.inflight, 3, 'state kept');
    assert.equal(pools.size, 1);
    assert.deepEqual(
      set.list.map((e) => e.id),
      ['127.0.0.1:3', '127.0.0.1:1'],
      'list follows the new order',
    );
    await set.close();
  });

  it('reset closes removed endpoints and their pools', async () => {
    const { factory } = recordingFactory();
    const set = new EndpointSet(factory);
    set.reset([info(1), info(2), info(3)]);
    const removed = set.get('127.0.0.1:2')!;
    const removedPool = removed.pool;
    const unusedRemoved = set.get('127.0.0.1:3')!; // never used: no pool was created for it
    set.reset([info(1)]);
    assert.equal(removed.closed, true);
    assert.equal(removedPool.closed, true);
    assert.equal(unusedRemoved.closed, true);
    assert.equal(set.get('127.0.0.1:2'), undefined);
    assert.equal(set.get('127.0.0.1:1')!.closed, false);
    await set.close();
  });

  it('an id that comes back after removal gets a new endpoint', async () => {
    const set = new EndpointSet(recordingFactory().factory);
    set.reset([info(1)]);
    const first = set.get('127.0.0.1:1')!;
    set.reset([]);
    set.reset([info(1)]);
    const second = set.get('127.0.0.1:1')!;
    assert.notEqual(second, first);
    assert.equal(first.closed, true);
    assert.equal(second.closed, false);
    await set.close();
  });

  it('reset updates labels and weight of a kept endpoint in place', async () => {
    const set = new EndpointSet(recordingFactory().factory);
    set.reset([info(1, { labels: { version: 'v1' }, weight: 1 })]);
    const ep = set.get('127.0.0.1:1')!;
    set.reset([info(1, { labels: { version: 'v2', zone: 'a' }, weight: 7 })]);
    assert.equal(set.get('127.0.0.1:1'), ep);
    assert.deepEqual(ep.info.labels, { version: 'v2', zone: 'a' });
    assert.equal(ep.info.weight, 7);
    await set.close();
  });

  it('onChange hears every reset with the new list; the disposer stops it', async () => {
    const set = new EndpointSet(recordingFactory().factory);
    const heard: string[][] = [];
    const current: boolean[] = [];
    const off = set.onChange((list: readonly Endpoint[]) => {
      heard.push(list.map((e) => e.id));
      current.push(list === set.list);
    });
    set.reset([info(1)]);
    set.reset([info(1), info(2)]);
    set.reset([]);
    assert.deepEqual(heard, [['127.0.0.1:1'], ['127.0.0.1:1', '127.0.0.1:2'], []]);
    assert.deepEqual(current, [true, true, true], 'the listener gets the published list, already in place');
    off();
    set.reset([info(3)]);
    assert.equal(heard.length, 3);
    await set.close();
  });

  it('each reset publishes a new list object (balancers notice the change by identity)', async () => {
    const set = new EndpointSet(recordingFactory().factory);
    set.reset([info(1)]);
    const before = set.list;
    set.reset([info(1)]);
    assert.notEqual(set.list, before);
    assert.equal(set.list[0], before[0]);
    await set.close();
  });

  it('close closes every endpoint and empties the set', async () => {
    const set = new EndpointSet(recordingFactory().factory);
    set.reset([info(1), info(2)]);
    const eps = [...set.list];
    const pool = eps[0]!.pool;
    let changes = 0;
    set.onChange(() => changes++);
    await set.close();
    assert.ok(eps.every((e) => e.closed));
    assert.equal(pool.closed, true);
    assert.equal(set.size, 0);
    assert.equal(set.get('127.0.0.1:1'), undefined);
    assert.equal(changes, 0);
  });
});
