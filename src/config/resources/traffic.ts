/**
 * Per-destination traffic settings of a Service: balancer, subsets, locality
 * (issue 4), failover across clusters (issue 17). Owned by the routing work.
 */
import { z } from 'zod';
import { clusterNameSchema, labelsSchema, labelKeySchema, nameSchema } from '../names.js';
import { durationSchema } from '../duration-schema.js';
import { headerNameSchema } from './metadata.js';

export const BUILTIN_BALANCERS = ['round_robin', 'least_request', 'peak_ewma', 'ring_hash'] as const;
export const loadBalancerSchema = z.enum(BUILTIN_BALANCERS);
export type LoadBalancerName = z.output<typeof loadBalancerSchema>;

/**
 * A balancer an application registers (hyphae/extend registerBalancer). The control plane cannot know
 * what each client registered, so any such name passes here, and each client refuses one it does not
 * know (HYPHAE_ERR_INVALID_CONFIG), keeping its last good balancer. Registered names are kebab-case with
 * at least one hyphen (`my-lb`), built-in ones snake_case: a bare word (`random`) or a misspelt built-in
 * is still refused here, where the operator sees it.
 */
export const CUSTOM_BALANCER_NAME = /^(?=.{3,63}$)[a-z][a-z0-9]*(?:-[a-z0-9]+)+$/;
export const serviceBalancerSchema = z.union([
  loadBalancerSchema,
  z.string().regex(CUSTOM_BALANCER_NAME, { error: 'must be round_robin, least_request, peak_ewma, ring_hash, or the kebab-case name of a balancer the clients register (my-lb)' }),
]);

export const peakEwmaSchema = z.strictObject({
  /** Latency assumed for an endpoint with no samples yet (Linkerd: 30 ms). */
  defaultRtt: durationSchema({ min: 1, max: 60_000 }).default(30),
  /** Time constant of the exponential decay (Finagle/Linkerd: 10 s). */
  decay: durationSchema({ min: 100, max: 600_000 }).default(10_000),
});

/** Ring hash settings without the key rule: what an absent `ringHash` resolves to (no key: a random point per request). */
const ringHashSettingsSchema = z.strictObject({
  /** Hash on this request header... */
  header: headerNameSchema.optional(),
  /** ...or on this cookie. */
  cookie: z.string().min(1).max(256).optional(),
  /**
   * Points on the ring per unit of instance weight (more: smoother spread).
   * A count per instance, not a total ring size as Envoy's minimum_ring_size:
   * with a total, adding an instance shrinks every other instance's share of
   * points and moves about twice the keys it must; with a count per
   * instance, only the keys the new instance takes over move.
   */
  virtualNodes: z.int().min(1).max(4096).default(256),
});

/** As written: exactly one key. (The control plane also requires it with `loadBalancer: ring_hash`.) */
export const ringHashSchema = ringHashSettingsSchema.refine((r) => (r.header === undefined) !== (r.cookie === undefined), {
  error: 'set exactly one of header or cookie',
});

export const subsetSchema = z.strictObject({
  name: nameSchema,
  /** Instances whose labels include all of these belong to the subset. */
  labels: labelsSchema.refine((l) => Object.keys(l).length > 0, { error: 'a subset needs at least one label' }),
});

export const localitySchema = z.strictObject({
  /** false: ignore zones and balance over every instance. */
  enabled: z.boolean().default(true),
  /** The instance label that names its zone. */
  zoneLabel: labelKeySchema.default('zone'),
  /** Spill to other zones when the caller's zone has fewer healthy instances than this share of its total (Envoy: 1/1.4 = 71 %). */
  minHealthyPercent: z.number().min(0).max(100).default(70),
});

/** One cluster a Service's callers may fail over to (an imported instance's `cluster`). */
export const failoverTargetSchema = z.strictObject({ cluster: clusterNameSchema });

/**
 * Where callers go, in order, when the local cluster's instances are not healthy enough: the same spill-over
 * rule as zones (locality.minHealthyPercent). Local instances are always the first tier; clusters not listed
 * are never used. Absent: instances imported from peers are used only while no local instance is registered.
 */
export const failoverSchema = z
  .array(failoverTargetSchema)
  .max(16)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((t, i) => {
      if (seen.has(t.cluster)) ctx.addIssue({ code: 'custom', path: [i, 'cluster'], message: `cluster ${t.cluster} is listed twice: each cluster is one tier` });
      seen.add(t.cluster);
    });
  });

/** The traffic fields of a Service spec as written and stored: absent sub-objects stay absent. */
export const trafficSpecShape = {
  loadBalancer: serviceBalancerSchema.default('peak_ewma'),
  peakEwma: peakEwmaSchema.optional(),
  ringHash: ringHashSchema.optional(),
  subsets: z.array(subsetSchema).max(64).optional(),
  locality: localitySchema.optional(),
  failover: failoverSchema.optional(),
};

/** The same fields as applied: every absent sub-object parsed from `{}`, so it carries each field's default. */
export const resolvedTrafficShape = {
  loadBalancer: trafficSpecShape.loadBalancer,
  peakEwma: peakEwmaSchema.prefault({}),
  // The stored spec was checked against ringHashSchema when it was applied; an absent one has no key.
  ringHash: ringHashSettingsSchema.prefault({}),
  subsets: z
    .array(subsetSchema)
    .max(64)
    .default(() => []),
  locality: localitySchema.prefault({}),
  // Absent stays absent: "no failover list" and "an empty one" differ (see failoverSchema).
  failover: failoverSchema.optional(),
};

export type PeakEwmaSpec = z.output<typeof peakEwmaSchema>;
export type RingHashSpec = z.output<typeof ringHashSettingsSchema>;
export type LocalitySpec = z.output<typeof localitySchema>;
export type FailoverSpec = z.output<typeof failoverSchema>;
