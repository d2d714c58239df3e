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

export const etcdOptionsSchema = z.strictObject({
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
});

export type EtcdOptions = z.input<typeof etcdOptionsSchema>;
export type ResolvedEtcdOptions = z.output<typeof etcdOptionsSchema>;
