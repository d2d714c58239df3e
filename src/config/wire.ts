/**
 * The control plane's HTTP/JSON wire protocol (under /v1), shared by the
 * control plane and the clients so that both sides parse the same shapes.
 */
import { z } from 'zod';
import { instanceSchema } from './instance.js';
import { nameSchema } from './names.js';
import { authorizationPolicyResourceSchema, gatewaySpecSchema, mtlsModeSchema, routeResourceSchema, serviceSpecSchema } from './resources.js';

export { API_PREFIX, STATS_PATH, WATCH_PATH } from './api-paths.js';

/**
 * The state of one service, pushed on the watch stream whenever it changes.
 * Each event carries the whole service (a "state of the world" per service, as
 * xDS SotW does), so a client never has to replay deltas after a reconnect.
 */
export const serviceSnapshotSchema = z.strictObject({
  name: nameSchema,
  namespace: nameSchema,
  /** Monotonic per control plane: the store revision at which this service last changed. */
  version: z.int().nonnegative(),
  /** False when neither a Service resource nor any instance has ever been seen. */
  exists: z.boolean(),
  instances: z.array(instanceSchema),
  /** The Service resource's spec (per-destination defaults), or null. */
  config: serviceSpecSchema.nullable(),
  /** Routes whose parentRefs name this service (what its callers apply). */
  routes: z.array(routeResourceSchema).default([]),
  /** AuthorizationPolicies that select this service (what its servers enforce). */
  policies: z.array(authorizationPolicyResourceSchema).default([]),
  /** How this service's servers accept connections (PeerAuthentication); null when the mesh has no CA. */
  mtlsMode: mtlsModeSchema.nullable().default(null),
});
export type ServiceSnapshot = z.output<typeof serviceSnapshotSchema>;

/**
 * `event: gateway` on the watch stream (issue 16): what a gateway process serves, whole on every change
 * (as a service snapshot is): its Gateway resource's spec and every Route attached to it. A gateway is
 * followed on the stream under the key `Gateway/<namespace>/<name>` (gatewayRef).
 */
export const gatewaySnapshotSchema = z.strictObject({
  name: nameSchema,
  namespace: nameSchema,
  /** Same counter as service snapshots: the version at which the gateway or an attached route last changed. */
  version: z.int().nonnegative(),
  /** False while there is no Gateway resource of that name (never applied, or deleted). */
  exists: z.boolean(),
  /** The Gateway resource's spec (listeners, edge settings), or null. */
  config: gatewaySpecSchema.nullable(),
  /**
   * Routes whose parentRefs name this gateway, in name order; which listener each serves is the
   * gateway's to work out (config/hostname-match.ts), from its sectionName and hostnames.
   */
  routes: z.array(routeResourceSchema).default([]),
});
export type GatewaySnapshot = z.output<typeof gatewaySnapshotSchema>;

/**
 * `event: trust-bundle` on the watch stream (when the control plane has a CA):
 * every root a workload must trust. During a root rotation it holds the old
 * and the new root; the old one leaves once every leaf is re-issued.
 */
export const trustBundleSchema = z.strictObject({
  trustDomain: z.string().min(1).max(255),
  version: z.int().nonnegative(),
  roots: z.array(z.string().min(1)).min(1).max(16),
});
export type TrustBundle = z.output<typeof trustBundleSchema>;

/** POST /v1/certificates (join token as Bearer): sign this CSR for the token's identity. */
export const csrRequestSchema = z.strictObject({
  csr: z
    .string()
    .min(1)
    .max(16 * 1024),
});
export type CsrRequest = z.output<typeof csrRequestSchema>;

export const certificateResponseSchema = z.strictObject({
  spiffeId: z.string(),
  /** PEM of the leaf. */
  certificate: z.string(),
  /** PEM of intermediates between the leaf and a root (empty when the root signs leaves). */
  chain: z.array(z.string()),
  notBefore: z.string(),
  notAfter: z.string(),
  trustBundle: trustBundleSchema,
});
export type CertificateResponse = z.output<typeof certificateResponseSchema>;

/**
 * POST /v1/tokens (admin token): a join token bound to one service identity,
 * or (`kind: "viewer"`) a read-only token for the dashboard and read-only
 * views, bound to no identity.
 */
export const tokenRequestSchema = z
  .strictObject({
    kind: z.enum(['join', 'viewer']).default('join'),
    service: nameSchema.optional(),
    namespace: nameSchema.optional(),
    /** Lifetime of the token itself (not of the certificates it obtains); no expiry when absent. */
    ttlSeconds: z
      .int()
      .min(1)
      .max(10 * 365 * 24 * 3600)
      .optional(),
  })
  .refine((r) => r.kind !== 'join' || r.service !== undefined, { path: ['service'], error: 'a join token is for one service: give "service"' })
  .refine((r) => r.kind !== 'viewer' || (r.service === undefined && r.namespace === undefined), {
    path: ['service'],
    error: 'a viewer token is bound to no service: drop "service" and "namespace"',
  });
export type TokenRequest = z.input<typeof tokenRequestSchema>;

export const tokenResponseSchema = z.strictObject({
  id: z.string(),
  token: z.string(),
  kind: z.enum(['join', 'viewer']),
  /** The identity of a join token; absent for a viewer token. */
  service: nameSchema.optional(),
  namespace: nameSchema.optional(),
  expiresAt: z.string().nullable(),
});
export type TokenResponse = z.output<typeof tokenResponseSchema>;

export const watchHelloSchema = z.strictObject({
  streamId: z.string(),
  revision: z.int().nonnegative(),
  heartbeatMs: z.int().positive(),
});
export type WatchHello = z.output<typeof watchHelloSchema>;

/** POST /v1/watch/:streamId — change what an open stream follows (services' and gateways' watch keys). */
export const watchUpdateSchema = z.strictObject({
  add: z.array(z.string().min(1).max(160)).max(1000).default([]),
  remove: z.array(z.string().min(1).max(160)).max(1000).default([]),
});
export type WatchUpdate = z.input<typeof watchUpdateSchema>;

/** Services are named `<name>` (in the default namespace) or `<namespace>/<name>` on the wire. */
export function serviceRef(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function parseServiceRef(ref: string, defaultNamespace: string): { namespace: string; name: string } | undefined {
  const slash = ref.indexOf('/');
  const namespace = slash < 0 ? defaultNamespace : ref.slice(0, slash);
  const name = slash < 0 ? ref : ref.slice(slash + 1);
  if (!nameSchema.safeParse(name).success || !nameSchema.safeParse(namespace).success) return undefined;
  return { namespace, name };
}

/**
 * Gateways share the watch stream's key space with services: `Gateway/<namespace>/<name>` (a resource key)
 * cannot be a service reference, whose parts are lower-case DNS labels.
 */
export const GATEWAY_KEY_PREFIX = 'Gateway/';

export function gatewayRef(namespace: string, name: string): string {
  return `${GATEWAY_KEY_PREFIX}${namespace}/${name}`;
}

export function isGatewayRef(ref: string): boolean {
  return ref.startsWith(GATEWAY_KEY_PREFIX);
}

/** `Gateway/<name>` (default namespace) or `Gateway/<namespace>/<name>`; undefined when it is not one. */
export function parseGatewayRef(ref: string, defaultNamespace: string): { namespace: string; name: string } | undefined {
  if (!isGatewayRef(ref)) return undefined;
  return parseServiceRef(ref.slice(GATEWAY_KEY_PREFIX.length), defaultNamespace);
}

/** Body of every 4xx/5xx answer from the control plane. */
export interface ApiErrorBody {
  error: {
    code: string;
    message: string;
    issues?: { path: string; message: string }[];
    /** On HYPHAE_ERR_CONFLICT (409): the configuration's current revision. */
    revision?: number;
  };
}
