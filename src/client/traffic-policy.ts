/**
 * A Service's traffic settings (Service.spec) turned into what the client
 * uses: subset selectors for the EndpointSet, and the pick policy (balancer
 * factory, locality for this caller, EWMA settings). Done once per config
 * version, from a spec whose defaults the schema has filled in
 * (config/resources/service.ts, resolveServiceSpec): nothing is defaulted here.
 */
import type { ResolvedServiceSpec } from '../config/resources.js';
import { balancerFactory } from './balancers/factory.js';
import type { SubsetSelector } from './endpoint-set.js';
import { ewmaSettings } from './latency.js';
import type { PickPolicy } from './subset.js';

export interface TrafficPolicy {
  loadBalancer: ResolvedServiceSpec['loadBalancer'];
  subsets: Map<string, SubsetSelector>;
  pick: PickPolicy;
}

export function trafficPolicy(spec: ResolvedServiceSpec, callerLabels: Readonly<Record<string, string>>): TrafficPolicy {
  const locality = spec.locality;
  const callerZone = callerLabels[locality.zoneLabel];
  return {
    loadBalancer: spec.loadBalancer,
    subsets: new Map(spec.subsets.map((s) => [s.name, s.labels])),
    pick: {
      newBalancer: balancerFactory({ loadBalancer: spec.loadBalancer, ringHash: spec.ringHash }),
      locality:
        locality.enabled && callerZone !== undefined
          ? { zoneLabel: locality.zoneLabel, callerZone, minHealthyPercent: locality.minHealthyPercent }
          : undefined,
      ewma: ewmaSettings(spec.peakEwma),
    },
  };
}
