/**
 * The PolicySource of a wrapped server: the AuthorizationPolicies in its own
 * service's snapshot, through the mesh's shared WatchCache (one watch per
 * service in the process, however many servers are wrapped).
 */
import type { AuthorizationPolicyResource } from '../config/resources.js';
import type { ServiceKey } from '../discovery/resolver.js';
import type { WatchCache } from '../discovery/watch-cache.js';
import type { PolicySource } from '../server/policy-source.js';

const NONE: readonly AuthorizationPolicyResource[] = Object.freeze([]);

export function watchCachePolicySource(cache: WatchCache, service: ServiceKey): PolicySource {
  return {
    subscribe: (listener) => {
      let last: readonly AuthorizationPolicyResource[] | undefined;
      return cache.subscribe(service, (s) => {
        // A resolver error leaves the last policies in force (fail static); 'pending' has nothing to say yet.
        if (s instanceof Error || s.status === 'pending') return;
        const policies = s.policies ?? NONE;
        // Endpoint changes of our own service come through here too: recompile only when the policies changed.
        if (last !== undefined && samePolicies(last, policies)) return;
        last = policies;
        listener(policies);
      });
    },
  };
}

function samePolicies(a: readonly AuthorizationPolicyResource[], b: readonly AuthorizationPolicyResource[]): boolean {
  if (a === b) return true;
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}
