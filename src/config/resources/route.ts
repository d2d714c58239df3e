/**
 * Route: modelled on the Kubernetes Gateway API HTTPRoute, so Istio and
 * Linkerd users know the shape. parentRefs name the destination services whose
 * traffic the route steers (GAMMA's Service parents), or the Gateways whose
 * listeners it attaches to (issue 16); rules match requests and send them to
 * weighted backendRefs (service subsets). Owned by the routing work (issue 4).
 */
import { z } from 'zod';
import { clusterNameSchema, nameSchema } from '../names.js';
import { durationSchema } from '../duration-schema.js';
import { hostnameSchema } from '../hostname-schema.js';
import { API_VERSION, headerNameSchema, httpMethodSchema, metadataSchema } from './metadata.js';
import { retryPolicySchema, timeoutsSchema } from './resilience.js';

export const pathMatchSchema = z.strictObject({
  type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'),
  value: z.string().min(1).max(1024),
});

export const headerMatchSchema = z
  .strictObject({
    type: z.enum(['Exact', 'RegularExpression', 'Present']).default('Exact'),
    name: headerNameSchema,
    value: z.string().max(1024).optional(),
  })
  .refine((h) => h.type === 'Present' || h.value !== undefined, { error: 'value is required unless type is Present', path: ['value'] });

export const queryParamMatchSchema = z
  .strictObject({
    type: z.enum(['Exact', 'RegularExpression', 'Present']).default('Exact'),
    name: z.string().min(1).max(256),
    value: z.string().max(1024).optional(),
  })
  .refine((q) => q.type === 'Present' || q.value !== undefined, { error: 'value is required unless type is Present', path: ['value'] });

export const routeMatchSchema = z.strictObject({
  path: pathMatchSchema.optional(),
  headers: z.array(headerMatchSchema).max(16).optional(),
  queryParams: z.array(queryParamMatchSchema).max(16).optional(),
  method: httpMethodSchema.optional(),
});

export const backendRefSchema = z.strictObject({
  name: nameSchema,
  namespace: nameSchema.optional(),
  /** A subset of the service (Service.spec.subsets); all instances when absent. */
  subset: nameSchema.optional(),
  /**
   * Only the service's instances in this cluster (issue 17): a peer's name selects the instances imported
   * from it, the caller's own cluster its local ones. Absent: the Service's tiers (local first, then failover).
   */
  cluster: clusterNameSchema.optional(),
  weight: z.int().min(0).max(1_000_000).default(1),
});

/** RFC 9110 field-value characters: no CR, LF or NUL, which would split or corrupt the request. */
const fieldValueSchema = z
  .string()
  .max(8192)
  .regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'must not contain control characters (CR, LF, NUL...)');
/** A path to send instead: visible characters only, no spaces or controls (they would corrupt the request line). */
const rewritePathSchema = z
  .string()
  .max(1024)
  .regex(/^\/[\x21-\x7e]*$/, 'must start with "/" and contain only visible ASCII characters (no spaces or controls)');

const headerValueSchema = z.strictObject({ name: headerNameSchema, value: fieldValueSchema });

export const routeFilterSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('RequestHeaderModifier'),
    requestHeaderModifier: z.strictObject({
      set: z.array(headerValueSchema).max(32).optional(),
      add: z.array(headerValueSchema).max(32).optional(),
      remove: z.array(headerNameSchema).max(32).optional(),
    }),
  }),
  z.strictObject({
    type: z.literal('URLRewrite'),
    urlRewrite: z.strictObject({
      path: z.discriminatedUnion('type', [
        z.strictObject({ type: z.literal('ReplacePrefixMatch'), replacePrefixMatch: rewritePathSchema }),
        z.strictObject({ type: z.literal('ReplaceFullPath'), replaceFullPath: rewritePathSchema }),
      ]),
    }),
  }),
  z.strictObject({
    type: z.literal('RequestMirror'),
    requestMirror: z.strictObject({
      backendRef: z.strictObject({ name: nameSchema, namespace: nameSchema.optional(), subset: nameSchema.optional() }),
      /** Share of requests copied, 0-100. */
      percent: z.number().min(0).max(100).default(100),
    }),
  }),
  /**
   * hyphae extension, enforced by gateways (issue 16): a token bucket per rule and gateway process, as
   * Envoy's local_ratelimit and Envoy Gateway's `limit: { requests, unit }`. The bucket holds `requests`
   * tokens and refills continuously at `requests` per `unit`; a request finding it empty gets 429.
   */
  z.strictObject({
    type: z.literal('LocalRateLimit'),
    localRateLimit: z.strictObject({
      requests: z.int().min(1).max(1_000_000_000),
      unit: z.enum(['Second', 'Minute', 'Hour']),
    }),
  }),
  /** hyphae extension: inject delays and aborts, for resilience testing. */
  z.strictObject({
    type: z.literal('Fault'),
    fault: z
      .strictObject({
        delay: z.strictObject({ percent: z.number().min(0).max(100), fixedDelay: durationSchema({ min: 0, max: 600_000 }) }).optional(),
        abort: z.strictObject({ percent: z.number().min(0).max(100), httpStatus: z.int().min(200).max(599) }).optional(),
      })
      .refine((f) => f.delay !== undefined || f.abort !== undefined, { error: 'a Fault needs delay or abort' }),
  }),
]);

export const routeRuleSchema = z.strictObject({
  /** Used in metrics, logs and per-route stats; defaultRuleName() when absent. */
  name: nameSchema.optional(),
  matches: z
    .array(routeMatchSchema)
    .max(16)
    .default([{ path: { type: 'PathPrefix', value: '/' } }]),
  filters: z.array(routeFilterSchema).max(16).optional(),
  backendRefs: z.array(backendRefSchema).min(1).max(16),
  timeouts: timeoutsSchema.optional(),
  retry: retryPolicySchema.optional(),
});

/**
 * A parent: a Service (the default: the route steers that service's callers) or a Gateway (the route
 * serves that gateway's listeners). `kind` stays absent when not written, so routes stored before
 * Gateways existed, and the snapshots that carry them, keep their shape.
 */
export const parentRefSchema = z
  .strictObject({
    kind: z.enum(['Service', 'Gateway']).optional(),
    name: nameSchema,
    /** The route's own namespace when absent. */
    namespace: nameSchema.optional(),
    /** A Gateway's listener, by name; every listener of the gateway when absent. */
    sectionName: nameSchema.optional(),
  })
  .refine((p) => p.kind === 'Gateway' || p.sectionName === undefined, {
    path: ['sectionName'],
    error: 'names a listener, so only with kind: Gateway',
  });

export const routeSpecSchema = z
  .strictObject({
    parentRefs: z.array(parentRefSchema).min(1).max(16),
    /** Host header values the route serves on its Gateway parents (exact or `*.` wildcard); ignored by Service parents, as in GAMMA. */
    hostnames: z.array(hostnameSchema).min(1).max(16).optional(),
    rules: z.array(routeRuleSchema).min(1).max(64),
  })
  .superRefine((spec, ctx) => {
    const gateway = spec.parentRefs.some((p) => p.kind === 'Gateway');
    if (spec.hostnames !== undefined && !gateway) {
      // GAMMA gives hostnames no meaning on Service parents; a field that silently does nothing is refused instead.
      ctx.addIssue({ code: 'custom', path: ['hostnames'], message: 'hostnames apply to Gateway parents only, and every parent is a Service: drop hostnames or attach the route to a Gateway' });
    }
    const service = spec.parentRefs.findIndex((p) => (p.kind ?? 'Service') === 'Service');
    if (service < 0) return;
    spec.rules.forEach((rule, r) =>
      rule.filters?.forEach((f, k) => {
        if (f.type !== 'LocalRateLimit') return;
        ctx.addIssue({
          code: 'custom',
          path: ['rules', r, 'filters', k],
          message: `LocalRateLimit is enforced by gateways, and parentRefs[${service}] is a Service whose callers would not apply it: put the rate limit on a route whose parents are all Gateways`,
        });
      }),
    );
  });

export const routeResourceSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Route'),
  metadata: metadataSchema,
  spec: routeSpecSchema,
});

export type RouteSpec = z.output<typeof routeSpecSchema>;
export type ParentRef = z.output<typeof parentRefSchema>;
export type RouteRule = z.output<typeof routeRuleSchema>;
export type RouteMatch = z.output<typeof routeMatchSchema>;
export type RouteFilter = z.output<typeof routeFilterSchema>;
export type BackendRef = z.output<typeof backendRefSchema>;
export type RouteResource = z.output<typeof routeResourceSchema>;
