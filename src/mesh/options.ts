/**
 * createMesh() options, validated with zod: a wrong or missing setting fails
 * at start with every problem listed, not at the first request.
 */
import { z } from 'zod';
import { labelsSchema, nameSchema, DEFAULT_NAMESPACE } from '../config/names.js';
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from '../config/instance.js';
import { ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { parseOrThrow } from '../config/validate.js';
import { hostnameProblem } from '../config/hostnames.js';
import { isIP } from 'node:net';
import type { Resolver } from '../discovery/resolver.js';
import type { ResilienceHooks } from '../resilience/hooks.js';
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { AccessLogSink } from '../telemetry/access-log.js';
import { DEFAULT_SEMICOLONS, SEMICOLON_MODES } from '../server/authz/normalize-path.js';
import { FILTER_ROLES, type PlacedFilter } from '../client/call/call-view.js';

const controlPlaneUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

function isResolver(v: unknown): v is Resolver {
  return typeof v === 'object' && v !== null && typeof (v as Resolver).watch === 'function' && typeof (v as Resolver).close === 'function';
}

function isLogger(v: unknown): v is Logger {
  const l = v as Logger;
  return typeof v === 'object' && v !== null && ['debug', 'info', 'warn', 'error'].every((k) => typeof l[k as keyof Logger] === 'function');
}

function isPlacedFilter(v: unknown): v is PlacedFilter {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  if (typeof f.filter !== 'function' || (f.before === undefined) === (f.after === undefined)) return false;
  const role = (f.before ?? f.after) as string;
  return (FILTER_ROLES as readonly string[]).includes(role) && f.after !== 'transport';
}

function isHooks(v: unknown): v is ResilienceHooks {
  return typeof v === 'object' && v !== null && Object.values(v).every((f) => typeof f === 'function');
}
// Telemetry: spans and metrics through @opentelemetry/api, the access log, stats for the live views.
const accessLogSchema = z.union([z.enum(['stdout', 'stderr']), z.custom<AccessLogSink>((v) => typeof v === 'function', { error: 'must be "stdout", "stderr" or a function receiving each line' })]);

/**
 * A host `telemetry.propagateTo` names: an IP address, a hostname, or `*.example.com` for every name
 * under example.com (the Gateway API's hostname form, config/hostnames.ts, which refuses IP addresses).
 */
const propagateHostSchema = z.string().superRefine((v, ctx) => {
  if (isIP(v) !== 0) return;
  const problem = hostnameProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `${problem} (or an IP address)` });
});

export const telemetryOptionsSchema = z
  .strictObject({
    /** false: no telemetry layer in either stack — no spans, metrics, access log or stats, and no trace context passed on. */
    enabled: z.boolean().default(true),
    /** One JSON line per request on each side: to stdout, stderr, or a function of your own. Off when absent. */
    accessLog: accessLogSchema.optional(),
    /** Send this process's traffic stats to the control plane for the dashboard and the CLI views (needs a control plane). */
    reportStats: z.boolean().default(true),
    /** How often stats are reported. */
    statsIntervalMs: z.int().min(250).max(60_000).default(2_000),
    /**
     * Whether @opentelemetry/instrumentation-undici makes the per-request CLIENT spans: 'auto' looks for
     * its subscriber on undici's diagnostics channel per call; the mesh's own span is then INTERNAL.
     */
    undiciInstrumentation: z.union([z.literal('auto'), z.boolean()]).default('auto'),
    /**
     * Which hosts that are not mesh services may be sent the trace context (traceparent, tracestate,
     * baggage) on calls through the mesh: true every one (as OpenTelemetry's HTTP instrumentations do),
     * false none, or a list (`api.example.com`, `*.example.com`, `10.0.0.7`). Calls to them are traced
     * either way; mesh services always get the context.
     */
    propagateTo: z.union([z.boolean(), z.array(propagateHostSchema).max(1_000)]).default(true),
    /** A tracer provider of your own instead of the global one. */
    tracerProvider: z.custom<TracerProvider>((v) => typeof (v as TracerProvider | null)?.getTracer === 'function', { error: 'must have getTracer()' }).optional(),
    /** A meter provider of your own instead of the global one. */
    meterProvider: z.custom<MeterProvider>((v) => typeof (v as MeterProvider | null)?.getMeter === 'function', { error: 'must have getMeter()' }).optional(),
  })
  .prefault({});

export const meshOptionsSchema = z
  .strictObject({
    /** This process's service name: needed to register servers (wrapServer). */
    service: nameSchema.optional(),
    namespace: nameSchema.default(DEFAULT_NAMESPACE),
    /** Control plane URL, or several (replicas): the client fails over among them. */
    controlPlane: z.union([controlPlaneUrl, z.array(controlPlaneUrl).min(1)]).optional(),
    /** A resolver of your own instead of the control plane (tests, static setups). */
    resolver: z.custom<Resolver>(isResolver, { error: 'must implement watch() and close()' }).optional(),
    /** Labels every registered instance carries (version, zone...). */
    labels: labelsSchema.default({}),
    /** true: createMesh waits (with backoff) until the control plane answers, instead of failing. */
    waitForControlPlane: z.boolean().default(false),
    /** Attempts to reach the control plane at start before failing with HYPHAE_ERR_CONTROL_PLANE_UNREACHABLE. */
    connectAttempts: z.int().min(1).max(100).default(5),
    /** Timeout of each control-plane API call. */
    controlPlaneTimeoutMs: z.int().min(50).max(60_000).default(2_000),
    /** How long a first call to a service waits for discovery to answer. */
    discoveryTimeoutMs: z.int().min(1).max(120_000).default(5_000),
    /** Traffic to hosts that are not mesh services: sent untouched ('allow') or refused ('deny', egress lock-down). */
    passthrough: z.enum(['allow', 'deny']).default('allow'),
    /** A single-label host the control plane does not know: an error, or sent by DNS as ordinary traffic. */
    unknownServices: z.enum(['error', 'passthrough']).default('error'),
    /**
     * Which client carries the mesh's HTTP/1.1 calls: 'undici' (its Pool), or 'raw' — the mesh's own HTTP/1.1
     * framing on the sockets (src/core/http1/pool.ts), which spends less CPU a request (docs/benchmarks.md,
     * "Below Node's HTTP stack"). HTTP/2 goes over undici either way; so do upgrades, CONNECT, Expect and
     * bodies the raw client does not write (FormData, Blob, web streams). `hyphae proxy` uses 'raw'.
     */
    http1Transport: z.enum(['undici', 'raw']).default('undici'),
    /** Lease TTL asked for on registration (the control plane's default otherwise). */
    ttlSeconds: z.number().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).optional(),
    server: z
      .strictObject({
        drainDelayMs: z.int().min(0).max(600_000).default(2_000),
        gracePeriodMs: z.int().min(0).max(3_600_000).default(30_000),
        advertiseAddress: z.string().min(1).optional(),
        /** `;` in request paths of wrapped servers: 'strip' (cut there), 'reject' (400) or 'keep' (server/authz/normalize-path.ts). */
        pathSemicolons: z.enum(SEMICOLON_MODES).default(DEFAULT_SEMICOLONS),
        // Listener limits of every wrapped server (core/listener-guard.ts); absent: the defaults there. 0: off.
        maxConnections: z.int().min(0).max(1_000_000).optional(),
        tlsHandshakeTimeoutMs: z.int().min(0).max(600_000).optional(),
        headersTimeoutMs: z.int().min(0).max(600_000).optional(),
        requestTimeoutMs: z.int().min(0).max(3_600_000).optional(),
        sendTimeoutMs: z.int().min(0).max(3_600_000).optional(),
      })
      .prefault({}),
    /**
     * Fail-static discovery cache: the directory under which the last-known-good
     * snapshots are kept (one subdirectory per control plane); false: memory only.
     * Default: $XDG_CACHE_HOME/hyphae, else <os.tmpdir()>/hyphae-cache-<uid>.
     */
    cacheDir: z.union([z.string().min(1), z.literal(false)]).optional(),
    /**
     * With mTLS, keep the workload's last certificate and key (0600) in the cache directory, so that a process
     * started while the CA is unreachable can use it until it expires (src/mesh/identity-cache.ts). Default true.
     */
    cacheIdentity: z.boolean().default(true),
    logger: z.custom<Logger>(isLogger, { error: 'must have debug, info, warn and error methods' }).optional(),
    /** Told about retries, exhausted retry budgets, ejections, shed requests and limited calls (src/resilience/hooks.ts). */
    hooks: z.custom<ResilienceHooks>(isHooks, { error: 'must be an object whose members are functions (onRetry, onEjection...)' }).optional(),
    /** The workload's join token (HYPHAE_TOKEN): with an https:// control plane, it proves the service identity. */
    token: z.string().min(16, 'must be a join token (hyphae token create --service <name>)').max(512).optional(),
    /** PEM of the control plane's CA (its ca-bundle.pem): it signs the control plane's HTTPS certificate. */
    ca: z.string().includes('-----BEGIN CERTIFICATE-----', { error: 'must be PEM (-----BEGIN CERTIFICATE-----)' }).optional(),
    /** A file holding that PEM (HYPHAE_CA_FILE), read by createMesh. */
    caFile: z.string().min(1).optional(),
    telemetry: telemetryOptionsSchema,
    /** Filters of the application's own, placed in the client stack by role (src/client/call/call-view.ts). */
    filters: z
      .array(
        z.custom<PlacedFilter>(isPlacedFilter, {
          error: `must be { before: role, filter } or { after: role, filter }, role one of ${FILTER_ROLES.join(', ')} (not after transport), filter a function`,
        }),
      )
      .optional(),
  })
  .refine((o) => o.controlPlane !== undefined || o.resolver !== undefined, {
    error: 'either controlPlane (URL of the hyphae control plane) or resolver is required',
    path: ['controlPlane'],
  })
  .superRefine((o, ctx) => {
    const urls = o.controlPlane === undefined ? [] : Array.isArray(o.controlPlane) ? o.controlPlane : [o.controlPlane];
    const secure = urls.filter((u) => u.startsWith('https:')).length;
    if (secure > 0 && secure < urls.length) {
      ctx.addIssue({ code: 'custom', path: ['controlPlane'], message: 'mixes http:// and https:// URLs; every replica of a control plane is secure or none is' });
      return;
    }
    if (secure > 0) {
      const why = 'the control plane is https://, so mTLS is on and this process needs';
      if (!o.service) ctx.addIssue({ code: 'custom', path: ['service'], message: `${why} its service name (its identity): set service or HYPHAE_SERVICE` });
      if (!o.token) {
        ctx.addIssue({ code: 'custom', path: ['token'], message: `${why} a join token: set token or HYPHAE_TOKEN (hyphae token create --service <name>)` });
      }
      if (!o.ca && !o.caFile) {
        ctx.addIssue({
          code: 'custom',
          path: ['caFile'],
          message: `${why} the control plane's CA: set ca, caFile or HYPHAE_CA_FILE (the control plane's ca-bundle.pem)`,
        });
      }
    } else if (urls.length > 0 && o.token) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'a token is given but the control plane URL is http://: it would travel in clear; use the https:// URL' });
    }
    if (o.ca && o.caFile) ctx.addIssue({ code: 'custom', path: ['caFile'], message: 'give ca or caFile, not both' });
  });

export type MeshOptions = z.input<typeof meshOptionsSchema>;
export type ResolvedMeshOptions = z.output<typeof meshOptionsSchema>;

export function parseMeshOptions(options: unknown): ResolvedMeshOptions {
  return parseOrThrow(meshOptionsSchema, options, 'mesh options', ErrorCode.INVALID_OPTIONS);
}
