import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import { Listeners } from '../../src/core/events.js';
import type { EndpointInfo, Resolver, ResolverUpdate, ServiceKey } from '../../src/discovery/resolver.js';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { WatchCache, type ServiceState } from '../../src/discovery/watch-cache.js';

const API: ServiceKey = { namespace: 'default', name: 'api' };
const WEB: ServiceKey = { namespace: 'default', name: 'web' };

function ep(port: number): EndpointInfo {
  return { id: `127.0.0.1:${port}`, address: '127.0.0.1', port, labels: {}, weight: 1 };
}

/** A resolver the test drives by hand: it counts watches and disposals and pushes what it is told. */
class FakeResolver implements Resolver {
  watches: ServiceKey[] = [];
  disposed = 0;
  #listeners = new Map<string, Listeners<ResolverUpdate>>();

  watch(service: ServiceKey, listener: (u: ResolverUpdate) => void): () => void {
    this.watches.push(service);
    const key = `${service.namespace}/${service.name}`;
    let ls = this.#listeners.get(key);
    if (!ls) this.#listeners.set(key, (ls = new Listeners()));
    const off = ls.on(listener);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.disposed++;
      off();
    };
  }

  push(service: ServiceKey, u: ResolverUpdate): void {
    this.#listeners.get(`${service.namespace}/${service.name}`)?.emit(u);
  }

  watchers(service: ServiceKey): number {
    return this.#listeners.get(`${service.namespace}/${service.name}`)?.size ?? 0;
  }

  async close(): Promise<void> {}
}

const tick = () => new Promise<void>((r) => setImmediate(r));

function ids(s: ServiceState | MeshError | undefined): string[] | string | undefined {
  if (s === undefined) return undefined;
  if (s instanceof MeshError) return `error:${s.code}`;
  return s.status === 'ready' ? s.endpoints.map((e) => e.id) : s.status;
}

describe('WatchCache', () => {
  it('is pending for a service nobody watches', () => {
    const cache = new WatchCache(new FakeResolver());
    assert.deepEqual(cache.get(API), { status: 'pending' });
  });

  it('opens one resolver watch per service, shared by every subscriber', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {});
    cache.subscribe(API, () => {});
    cache.subscribe({ namespace: 'default', name: 'api' }, () => {});
    cache.subscribe(WEB, () => {});
    cache.subscribe({ namespace: 'other', name: 'api' }, () => {});
    assert.deepEqual(
      r.watches.map((s) => `${s.namespace}/${s.name}`),
      ['default/api', 'default/web', 'other/api'],
    );
  });

  it('every subscriber hears each update', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    const a: unknown[] = [];
    const b: unknown[] = [];
    cache.subscribe(API, (s) => a.push(ids(s)));
    cache.subscribe(API, (s) => b.push(ids(s)));
    r.push(API, { type: 'reset', endpoints: [ep(1), ep(2)] });
    assert.deepEqual(a, [['127.0.0.1:1', '127.0.0.1:2']]);
    assert.deepEqual(b, a);
    assert.deepEqual(ids(cache.get(API)), ['127.0.0.1:1', '127.0.0.1:2']);
  });

  it('a reset carries config and version into the state', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {});
    r.push(API, { type: 'reset', endpoints: [ep(1)], version: 4 });
    assert.deepEqual(cache.get(API), { status: 'ready', endpoints: [ep(1)], config: null, routes: [], policies: [], mtlsMode: null, version: 4 });
  });

  it('a late subscriber gets the current state at once (asynchronously), without a new watch', async () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {});
    r.push(API, { type: 'reset', endpoints: [ep(1)] });
    const late: unknown[] = [];
    cache.subscribe(API, (s) => late.push(ids(s)));
    assert.deepEqual(late, [], 'not called synchronously from subscribe()');
    await Promise.resolve();
    assert.deepEqual(late, [['127.0.0.1:1']]);
    assert.equal(r.watches.length, 1);
  });

  it('a late subscriber hears not-found too', async () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {});
    r.push(API, { type: 'not-found' });
    const late: unknown[] = [];
    cache.subscribe(API, (s) => late.push(ids(s)));
    await tick();
    assert.deepEqual(late, ['not-found']);
  });

  it('a subscriber that comes while the state is still pending hears nothing until the first update', async () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {});
    const second: unknown[] = [];
    cache.subscribe(API, (s) => second.push(ids(s)));
    await tick();
    assert.deepEqual(second, []);
    r.push(API, { type: 'reset', endpoints: [] });
    assert.deepEqual(second, [[]]);
  });

  it('add and remove update the endpoint list', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    const heard: unknown[] = [];
    cache.subscribe(API, (s) => heard.push(ids(s)));
    r.push(API, { type: 'reset', endpoints: [ep(1)], version: 1 });
    r.push(API, { type: 'add', endpoint: ep(2) });
    r.push(API, { type: 'remove', id: '127.0.0.1:1' });
    r.push(API, { type: 'remove', id: '127.0.0.1:99' });
    assert.deepEqual(heard, [['127.0.0.1:1'], ['127.0.0.1:1', '127.0.0.1:2'], ['127.0.0.1:2'], ['127.0.0.1:2']]);
    const state = cache.get(API);
    assert.equal(state.status, 'ready');
    assert.equal(state.status === 'ready' && state.version, undefined, 'a delta has no snapshot version');
  });

  it('an add for an id already there replaces that endpoint (no duplicate)', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {});
    r.push(API, { type: 'reset', endpoints: [ep(1), ep(2)] });
    r.push(API, { type: 'add', endpoint: { ...ep(1), weight: 5 } });
    const s = cache.get(API);
    assert.ok(s.status === 'ready');
    assert.deepEqual(
      s.endpoints.map((e) => [e.id, e.weight]),
      [
        ['127.0.0.1:2', 1],
        ['127.0.0.1:1', 5],
      ],
    );
  });

  it('an add before any reset makes the service ready with that endpoint; a remove before any reset is ignored', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    const heard: unknown[] = [];
    cache.subscribe(API, (s) => heard.push(ids(s)));
    r.push(API, { type: 'remove', id: '127.0.0.1:1' });
    assert.deepEqual(heard, []);
    assert.equal(cache.get(API).status, 'pending');
    r.push(API, { type: 'add', endpoint: ep(3) });
    assert.deepEqual(heard, [['127.0.0.1:3']]);
  });

  it('an error is passed on and the last good state stays', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    const heard: unknown[] = [];
    cache.subscribe(API, (s) => heard.push(ids(s)));
    r.push(API, { type: 'reset', endpoints: [ep(1)] });
    const err = new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, 'down');
    r.push(API, { type: 'error', error: err });
    assert.deepEqual(heard, [['127.0.0.1:1'], 'error:HYPHAE_ERR_CONTROL_PLANE_UNREACHABLE']);
    assert.deepEqual(ids(cache.get(API)), ['127.0.0.1:1']);
    // A delta after the error still applies to the kept state.
    r.push(API, { type: 'add', endpoint: ep(2) });
    assert.deepEqual(ids(cache.get(API)), ['127.0.0.1:1', '127.0.0.1:2']);
  });

  it('a late subscriber after an error gets the last good state, not the error', async () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {});
    r.push(API, { type: 'reset', endpoints: [ep(1)] });
    r.push(API, { type: 'error', error: new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, 'down') });
    const late: unknown[] = [];
    cache.subscribe(API, (s) => late.push(ids(s)));
    await tick();
    assert.deepEqual(late, [['127.0.0.1:1']]);
  });

  it('the resolver watch is disposed when the last subscriber leaves, not before', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    const offA = cache.subscribe(API, () => {});
    const heardB: unknown[] = [];
    const offB = cache.subscribe(API, (s) => heardB.push(ids(s)));
    offA();
    assert.equal(r.disposed, 0);
    assert.equal(r.watchers(API), 1);
    r.push(API, { type: 'reset', endpoints: [ep(1)] });
    assert.deepEqual(heardB, [['127.0.0.1:1']]);
    offB();
    assert.equal(r.disposed, 1);
    assert.equal(r.watchers(API), 0);
    assert.deepEqual(cache.get(API), { status: 'pending' }, 'state forgotten with the watch');
  });

  it('a new subscriber after the last one left opens a new watch', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {})();
    cache.subscribe(API, () => {});
    assert.equal(r.watches.length, 2);
    assert.equal(r.watchers(API), 1);
  });

  it('an unsubscribed listener hears no more updates', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    const heard: unknown[] = [];
    cache.subscribe(API, () => {});
    const off = cache.subscribe(API, (s) => heard.push(ids(s)));
    r.push(API, { type: 'reset', endpoints: [ep(1)] });
    off();
    r.push(API, { type: 'reset', endpoints: [ep(2)] });
    assert.equal(heard.length, 1);
  });

  it('close disposes every watch', async () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    const heard: unknown[] = [];
    cache.subscribe(API, (s) => heard.push(ids(s)));
    cache.subscribe(WEB, () => {});
    await cache.close();
    assert.equal(r.disposed, 2);
    r.push(API, { type: 'reset', endpoints: [ep(1)] });
    assert.deepEqual(heard, []);
    assert.deepEqual(cache.get(API), { status: 'pending' });
  });

  it('works with the StaticResolver: first state, set() updates, late subscriber, not-found', async () => {
    const r = new StaticResolver({ api: [{ address: '127.0.0.1', port: 1 }] });
    const cache = new WatchCache(r);
    const heard: unknown[] = [];
    const off = cache.subscribe(API, (s) => heard.push(ids(s)));
    await tick();
    assert.deepEqual(heard, [['127.0.0.1:1']]);
    r.set('api', [
      { address: '127.0.0.1', port: 1 },
      { address: '127.0.0.1', port: 2 },
    ]);
    assert.deepEqual(heard, [['127.0.0.1:1'], ['127.0.0.1:1', '127.0.0.1:2']]);
    const late: unknown[] = [];
    cache.subscribe(API, (s) => late.push(ids(s)));
    await tick();
    assert.deepEqual(late, [['127.0.0.1:1', '127.0.0.1:2']]);
    const missing: unknown[] = [];
    cache.subscribe({ namespace: 'default', name: 'nope' }, (s) => missing.push(ids(s)));
    await tick();
    assert.deepEqual(missing, ['not-found']);
    off();
    await cache.close();
  });
});

describe('WatchCache edge cases', () => {
  it('a late subscriber ends with the newest state when an update lands in the same tick as subscribe()', async () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {});
    r.push(API, { type: 'reset', endpoints: [ep(1)] });
    let last: unknown;
    cache.subscribe(API, (s) => (last = ids(s)));
    r.push(API, { type: 'reset', endpoints: [ep(2)] });
    await tick();
    assert.deepEqual(last, ['127.0.0.1:2']);
  });

  it('a listener that unsubscribes before the queued state is delivered is not called', async () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    cache.subscribe(API, () => {});
    r.push(API, { type: 'reset', endpoints: [ep(1)] });
    let calls = 0;
    const off = cache.subscribe(API, () => calls++);
    off();
    await tick();
    assert.equal(calls, 0);
  });

  it('the first subscriber hears a state that the resolver delivers synchronously from watch()', async () => {
    const sync: Resolver = {
      watch(_service, listener) {
        listener({ type: 'reset', endpoints: [ep(1)] });
        return () => {};
      },
      close: async () => {},
    };
    const cache = new WatchCache(sync);
    const heard: unknown[] = [];
    cache.subscribe(API, (s) => heard.push(ids(s)));
    await tick();
    assert.deepEqual(ids(cache.get(API)), ['127.0.0.1:1'], 'the cache itself has the state');
    assert.deepEqual(heard, [['127.0.0.1:1']]);
  });

  it('calling a disposer twice does not tear down a later subscription to the same service', () => {
    const r = new FakeResolver();
    const cache = new WatchCache(r);
    const off = cache.subscribe(API, () => {});
    off();
    cache.subscribe(API, () => {});
    r.push(API, { type: 'reset', endpoints: [ep(1)] });
    off();
    assert.deepEqual(ids(cache.get(API)), ['127.0.0.1:1']);
    cache.subscribe(API, () => {});
    assert.equal(r.watches.length, 2, 'the live entry is shared, not opened again');
  });
});
