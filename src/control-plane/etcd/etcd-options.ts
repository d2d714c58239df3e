/**
 * Options of the etcd backend. Kept apart from the code that talks to etcd so
 * that validating options never loads the etcd client (a file-store control
 * plane does not pay for gRPC).
 */
import { z } from 'zod';

export const DEFAULT_ETCD_PREFIX = '/hyphae/';
/**
 * Short on purpose: a write forwarded to a leader that has just died is
 * dropped by etcd and only this deadline ends the wait; the client then
 * retries on another member (writes are safe to retry, see etcd-store.ts).
 */
export const DEFAULT_ETCD_REQUEST_TIMEOUT_MS = 2000;

/** `http://host:port` or `https://host:port`: what etcd's --advertise-client-urls lists. */
const endpointSchema = z
  .string()
  .regex(/^https?:\/\/[^/\s?#]+(:\d+)?\/?$/, 'must be an etcd client URL such as http://127.0.0.1:2379')
  .transform((s) => s.replace(/\/$/, ''));

export const etcdOptionsSchema = z
  .strictObject({
    endpoints: z.array(endpointSchema).min(1, 'give at least one etcd endpoint').max(32),
    /**
     * Every key of this mesh starts with it, so that several meshes (or other
     * applications) can share one etcd cluster.
     */
    prefix: z
      .string()
      .regex(/^\/[\x21-\x7e]*\/$/, 'must start and end with "/" and hold printable ASCII only, e.g. /hyphae/')
      .max(200)
      .default(DEFAULT_ETCD_PREFIX),
    /** Deadline of each etcd call; a write that cannot reach a quorum within it fails with HYPHAE_ERR_STORE_UNAVAILABLE. */
    requestTimeoutMs: z.int().min(100).max(60_000).default(DEFAULT_ETCD_REQUEST_TIMEOUT_MS),
    /**
     * How long etcd may stay unreachable from this replica (no linearizable
     * read, or no watch) before it reports itself unhealthy and ends its watch
     * streams; default 3 x requestTimeoutMs, at least 3 s.
     */
    unhealthyAfterMs: z.int().min(500).max(600_000).optional(),
    /**
     * TLS to etcd (https:// endpoints): the CA that signed etcd's server
     * certificates (PEM file; default: the system's roots), and this replica's
     * client certificate and key for etcd's --client-cert-auth.
     */
    caFile: z.string().min(1).optional(),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** etcd user (etcd's --auth): with RBAC, give only the replicas write access to the prefix. */
    username: z.string().min(1).max(256).optional(),
    /** Its password; the CLI reads it from a file or HYPHAE_ETCD_PASSWORD, never from argv. */
    password: z.string().min(1).max(4096).optional(),
  })
  .refine((o) => (o.certFile === undefined) === (o.keyFile === undefined), { path: ['certFile'], error: 'give the etcd client certificate and its key together' })
  .refine((o) => (o.username === undefined) === (o.password === undefined), { path: ['username'], error: 'give the etcd user and its password together' })
  .refine((o) => (o.caFile === undefined && o.certFile === undefined) || o.endpoints.every((e) => e.startsWith('https://')), {
    path: ['endpoints'],
    error: 'TLS options for etcd need https:// endpoints (every one)',
  })
  .refine((o) => o.endpoints.every((e) => e.startsWith('https://')) || o.endpoints.every((e) => e.startsWith('http://')), {
    path: ['endpoints'],
    error: 'mix of http:// and https:// etcd endpoints: use https:// for every member',
  });

/** Endpoints over plain HTTP to another host: anyone on the path reads and rewrites the mesh's state. */
export function plainRemoteEndpoints(endpoints: readonly string[]): string[] {
  return endpoints.filter((e) => {
    if (!e.startsWith('http://')) return false;
    const host = new URL(e).hostname.replace(/^\[|\]$/g, '');
    return !(host === 'localhost' || host === '::1' || /^127\./.test(host));
  });
}

export type EtcdOptions = z.input<typeof etcdOptionsSchema>;
export type ResolvedEtcdOptions = z.output<typeof etcdOptionsSchema>;
