/**
 * POST /v1/stats: what each mesh process reports every few seconds, for the
 * control plane's live views (dashboard, `hyphae top`, `hyphae status`).
 * Compact on purpose: per destination (edge) counts, errors and a sparse
 * log-bucket latency histogram (src/core/latency-histogram.ts), plus the
 * process's view of endpoint states, its certificate and refused config.
 */
import { z } from 'zod';
import { LATENCY_BUCKETS } from '../core/latency-histogram.js';
import { DEFAULT_ROUTE, MAX_ROUTES_PER_EDGE, OTHER_ROUTES } from '../core/route-keys.js';
import { DEFAULT_NAMESPACE, nameSchema } from './names.js';

export { STATS_PATH } from './wire.js';

/**
 * The windows (seconds) the control plane summarises stats over: a fixed few, since every window
 * someone follows costs a summary of the whole stats store each second. A request for another window
 * (1 to 60) is served the smallest of these that covers it; the summary's `windowSeconds` says which.
 */
export const STATS_WINDOWS_SECONDS = [10, 30, 60] as const;
export const DEFAULT_STATS_WINDOW_SECONDS = 10;
export const MAX_STATS_WINDOW_SECONDS = 60;

/** The window served for a request of `seconds` (1 to MAX_STATS_WINDOW_SECONDS). */
export function statsWindowFor(seconds: number): number {
  return STATS_WINDOWS_SECONDS.find((w) => w >= seconds) ?? MAX_STATS_WINDOW_SECONDS;
}
/** Edges (destinations) one report may carry. */
export const MAX_STATS_EDGES = 1000;
/** Endpoint states one report may carry. */
export const MAX_STATS_ENDPOINTS = 10_000;
/** Route rows one edge may carry: the rules the runtime counts apart, `[default]` and `[other]`. */
export const MAX_STATS_ROUTES_PER_EDGE = MAX_ROUTES_PER_EDGE + 2;
/** Route rows one report may carry, over all its edges (a process calling 100 services through 20 rules each). */
export const MAX_STATS_ROUTES = 5_000;

const count = z.int().min(0).max(1e12);

export const latencyBucketsSchema = z
  .array(
    z.tuple([
      z
        .int()
        .min(0)
        .max(LATENCY_BUCKETS - 1),
      z.int().min(1).max(1e12),
    ]),
  )
  .max(LATENCY_BUCKETS);

const trafficShape = {
  requests: count,
  errors: count,
  latency: latencyBucketsSchema,
  latencySumMs: z.number().min(0).max(1e15).default(0),
};

/** Counts must agree: a report whose numbers contradict each other would skew every rate and percentile. */
function consistent<T extends z.ZodType<{ requests: number; errors: number; latency: [number, number][] }>>(schema: T) {
  return schema
    .refine((t) => t.errors <= t.requests, { error: 'errors must not exceed requests', path: ['errors'] })
    .refine((t) => t.latency.reduce((s, [, n]) => s + n, 0) === t.requests, { error: 'the latency counts must add up to requests', path: ['latency'] });
}

export const trafficSchema = consistent(z.strictObject(trafficShape));

const label = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
/** A Route's `namespace/name` (two DNS labels), or one of the two buckets that are no Route. */
const routeKeySchema = z.union([
  z.literal(DEFAULT_ROUTE),
  z.literal(OTHER_ROUTES),
  z
    .string()
    .max(127)
    .regex(new RegExp(`^${label}/${label}$`), 'must be namespace/name, [default] or [other]'),
]);
/** A rule's name: a DNS label, or `<route>.<index>` for a rule without one (defaultRuleName). */
const ruleNameSchema = z
  .string()
  .max(70)
  .regex(new RegExp(`^${label}(\\.[0-9]{1,3})?$`), 'must be a rule name');

/** One route rule's share of an edge; `rule` names a rule of a Route, so [default] and [other] have none. */
export const routeStatsSchema = consistent(z.strictObject({ route: routeKeySchema, rule: ruleNameSchema.optional(), ...trafficShape })).refine(
  (r) => (r.rule === undefined) === (r.route === DEFAULT_ROUTE || r.route === OTHER_ROUTES),
  { error: "a Route's row names its rule; [default] and [other] name none", path: ['rule'] },
);

export const edgeStatsSchema = consistent(
  z.strictObject({
    destination: nameSchema,
    namespace: nameSchema.default(DEFAULT_NAMESPACE),
    /**
     * 'Gateway': the calls an ingress gateway's routes steered, `destination` naming the Gateway (their
     * parent, as a Service is its routes' parent); absent: a Service.
     */
    kind: z.literal('Gateway').optional(),
    ...trafficShape,
    /** The same calls by route rule (absent from processes older than per-route stats). */
    routes: z.array(routeStatsSchema).max(MAX_STATS_ROUTES_PER_EDGE).default([]),
  }),
).refine((e) => e.routes.length === 0 || (sum(e.routes, 'requests') === e.requests && sum(e.routes, 'errors') === e.errors), {
  error: "the routes' requests and errors must add up to the edge's",
  path: ['routes'],
});

function sum(rows: readonly { requests: number; errors: number }[], key: 'requests' | 'errors'): number {
  let n = 0;
  for (const r of rows) n += r[key];
  return n;
}

export const endpointStateSchema = z.strictObject({
  service: nameSchema,
  namespace: nameSchema.default(DEFAULT_NAMESPACE),
  /** `address:port`, as the registry names instances. */
  id: z.string().min(1).max(300),
  state: z.enum(['healthy', 'ejected', 'draining']),
});

export const statsReportSchema = z
  .strictObject({
    /** A random id per process (several reports from one process are one reporter). */
    reporter: z
      .string()
      .min(8)
      .max(128)
      .regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, "-" or "_"'),
    /** The process's service; absent for a client-only process without one. */
    service: nameSchema.optional(),
    namespace: nameSchema.default(DEFAULT_NAMESPACE),
    /** Instance ids (`address:port`) this process serves: its inbound stats belong to them. */
    instances: z.array(z.string().min(1).max(300)).max(64).default([]),
    /** The time this report covers (since the previous one). */
    intervalMs: z.int().min(1).max(600_000),
    /** Outgoing traffic per destination (edges from this service). */
    edges: z.array(edgeStatsSchema).max(MAX_STATS_EDGES).default([]),
    /** Traffic served (every wrapped server of the process together). */
    inbound: trafficSchema.optional(),
    /** How this process sees the endpoints it calls (outlier detection's ejections). */
    endpoints: z.array(endpointStateSchema).max(MAX_STATS_ENDPOINTS).default([]),
    /** The workload certificate (mTLS), for expiry warnings. */
    certificate: z.strictObject({ spiffeId: z.string().min(1).max(2048), notBefore: z.iso.datetime(), notAfter: z.iso.datetime() }).optional(),
    /** Configuration this process refused (xDS NACK): shown as warnings until it accepts a good one. */
    configErrors: z
      .array(z.strictObject({ service: nameSchema, message: z.string().max(1000) }))
      .max(100)
      .default([]),
  })
  .refine((r) => r.edges.reduce((n, e) => n + e.routes.length, 0) <= MAX_STATS_ROUTES, { error: `at most ${MAX_STATS_ROUTES} route rows in all`, path: ['edges'] });

export type StatsReport = z.output<typeof statsReportSchema>;
export type StatsReportInput = z.input<typeof statsReportSchema>;
