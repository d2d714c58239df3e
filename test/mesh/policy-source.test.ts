/**
 * The mesh's PolicySource over the WatchCache (a unit of one layer: the
 * resolver is driven by hand): what a wrapped server hears of its own
 * service's policies, and what it does not need to hear.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import { Listeners } from '../../src/core/events.js';
import type { AuthorizationPolicyResource } from '../../src/config/resources.js';
import type { Resolver, ResolverUpdate, ServiceKey } from '../../src/discovery/resolver.js';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { WatchCache } from '../../src/discovery/watch-cache.js';
import { watchCachePolicySource } from '../../src/mesh/policy-source.js';
import { policy } from '../server/authz/authz-cases.js';

const WEB: ServiceKey = { namespace: 'default', name: 'web' };

class HandResolver implements Resolver {
  listeners = new Listeners<ResolverUpdate>();
  watch(_s: ServiceKey, l: (u: ResolverUpdate) => void): () => void {
    return this.listeners.on(l);
  }
  async close(): Promise<void> {}
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const names = (ps: readonly AuthorizationPolicyResource[]) => ps.map((p) => p.metadata.name).join(',') || '(none)';
const ep = { id: '127.0.0.1:1', address: '127.0.0.1', port: 1, labels: {}, weight: 1 };

describe('watchCachePolicySource', () => {
  it('hears policies on not-found and ready snapshots, once per change; errors and endpoint changes say nothing', async () => {
    const r = new HandResolver();
    const cache = new WatchCache(r);
    const heard: string[] = [];
    const dispose = watchCachePolicySource(cache, WEB).subscribe((ps) => heard.push(names(ps)));
    const a = policy('a', 'DENY', [{}]);
    const b = policy('b', 'ALLOW', [{}]);

    r.listeners.emit({ type: 'not-found', policies: [a] });
    r.listeners.emit({ type: 'reset', endpoints: [ep], policies: [a] });
    r.listeners.emit({ type: 'remove', id: ep.id });
    r.listeners.emit({ type: 'error', error: new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, 'down') });
    r.listeners.emit({ type: 'reset', endpoints: [ep], policies: [policy('a', 'DENY', [{}])] });
    r.listeners.emit({ type: 'reset', endpoints: [ep], policies: [a, b] });
    r.listeners.emit({ type: 'reset', endpoints: [], policies: [] });
    r.listeners.emit({ type: 'not-found' });
    assert.deepEqual(heard, ['a', 'a,b', '(none)']);

    dispose();
    r.listeners.emit({ type: 'reset', endpoints: [], policies: [a] });
    assert.equal(heard.length, 3, 'nothing after dispose');
    assert.equal(r.listeners.size, 0, 'the resolver watch is released');
    await cache.close();
  });

  it('with a resolver that knows nothing of the service (static), the answer is "no policies", not silence', async () => {
    const cache = new WatchCache(new StaticResolver({}));
    const heard: string[] = [];
    watchCachePolicySource(cache, WEB).subscribe((ps) => heard.push(names(ps)));
    await tick();
    assert.deepEqual(heard, ['(none)']);
    await cache.close();
  });
});
