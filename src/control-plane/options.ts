/** Options of createControlPlane(), validated so that a typo fails at start with a message naming the option. */
import { z } from 'zod';
import { ErrorCode } from '../core/errors.js';
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS } from '../config/instance.js';
import { parseOrThrow } from '../config/validate.js';
import type { LogSink } from './log.js';
import { etcdOptionsSchema, type EtcdOptions } from './etcd/etcd-options.js';

export const DEFAULT_PORT = 15010;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_TRUST_DOMAIN = 'hyphae.local';
export const DEFAULT_CERT_TTL_MS = 24 * 3600 * 1000;
export const MAX_CERT_TTL_MS = 365 * 24 * 3600 * 1000;
/** Stats streams one token may hold open: a dashboard or two, not a way to make the control plane build summaries. */
export const DEFAULT_MAX_STATS_STREAMS_PER_TOKEN = 8;
export const DEFAULT_MAX_STATS_STREAMS = 256;
/** Upper bound of both flags: each stream is a connection, and a write of every summary. */
export const MAX_STATS_STREAMS = 100_000;

export interface ControlPlaneOptions {
  /** TCP port; 0 picks a free one (see ControlPlane.port). Default 15010. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1: exposing the API is a deliberate choice. */
  host?: string;
  /** Where configuration is stored (created if missing). One control plane per directory. */
  dataDir: string;
  /** Lease TTL for registrations that do not ask for one. Default 10 s. */
  defaultTtlSeconds?: number;
  /** Interval of `: ping` comments on watch streams. Default 15 s. */
  heartbeatMs?: number;
  /**
   * After a restart on the file store (instances are in memory, so forgotten), how long empty snapshots of
   * services that had instances are held back from watchers while the instances register again.
   * Default: one default lease TTL. 0: no hold.
   */
  restartHoldMs?: number;
  /** Largest accepted request body. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Stats streams (`GET /v1/stats/stream`) one token may hold open; the admin token counts as one. Default 8. */
  maxStatsStreamsPerToken?: number;
  /** Stats streams open in all. Default 256. */
  maxStatsStreams?: number;
  /** Receives one line per significant event; silent when absent. */
  log?: LogSink;
  /**
   * Plain HTTP, no CA, no tokens, mtlsMode null: anyone who reaches the API can register as any service
   * and change the configuration. For local experiments only; a warning is logged. Default false.
   */
  insecure?: boolean;
  /** The SPIFFE trust domain of workload identities. Default hyphae.local. */
  trustDomain?: string;
  /** Lifetime of workload certificates, ms. Default 24 h; down to 1 s (tests). */
  certTtlMs?: number;
  /** The operator's CA certificate (PEM; an intermediate is followed by its chain up to the root) and key. Made here when absent. */
  caCertFile?: string;
  caKeyFile?: string;
  /** Read the admin token from this file instead of making one in the data directory. */
  adminTokenFile?: string;
  /** Pre-provisioned join tokens, `[<namespace>/]<service>=<secret>`. */
  joinTokens?: string[];
  /** A file of join tokens, one `[<namespace>/]<service>=<secret>` per line. */
  joinTokensFile?: string;
  /** More host names or addresses for the control plane's HTTPS certificate (besides localhost and --host). */
  tlsNames?: string[];
  /**
   * Where configuration and the registry live: `file` (default: resources in
   * dataDir, instances in memory; one node) or `etcd` (both in etcd, shared by
   * every replica; needs `etcd`).
   */
  store?: 'file' | 'etcd';
  /** The etcd cluster, with `store: 'etcd'`. */
  etcd?: EtcdOptions;
  /**
   * With `store: 'etcd'` and security on: a file of the keys that encrypt the
   * CA's private keys in etcd (one per line, 32 bytes in base64 or hex; the
   * first encrypts, all decrypt). Every replica needs the same keys.
   */
  caEncryptionKeyFile?: string;
  /** The same keys given directly (the CLI's HYPHAE_CA_ENCRYPTION_KEY), instead of a file. */
  caEncryptionKey?: string;
}

const optionsSchema = z.strictObject({
  port: z.int().min(0).max(65535).default(DEFAULT_PORT),
  host: z.string().min(1).default(DEFAULT_HOST),
  dataDir: z.string().min(1),
  defaultTtlSeconds: z.number().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).default(DEFAULT_TTL_SECONDS),
  heartbeatMs: z.int().min(10).max(3_600_000).default(DEFAULT_HEARTBEAT_MS),
  restartHoldMs: z.int().min(0).max(3_600_000).optional(),
  bodyLimitBytes: z.int().min(1024).max(64 * 1024 * 1024).default(DEFAULT_BODY_LIMIT_BYTES),
  maxStatsStreamsPerToken: z.int().min(1).max(MAX_STATS_STREAMS).default(DEFAULT_MAX_STATS_STREAMS_PER_TOKEN),
  maxStatsStreams: z.int().min(1).max(MAX_STATS_STREAMS).default(DEFAULT_MAX_STATS_STREAMS),
  log: z.custom<LogSink>((v) => typeof v === 'function', 'must be a function').optional(),
  insecure: z.boolean().default(false),
  trustDomain: z
    .string()
    .regex(/^[a-z0-9._-]{1,255}$/, 'must be a SPIFFE trust domain: lower-case letters, digits, ".", "-" or "_"')
    .default(DEFAULT_TRUST_DOMAIN),
  certTtlMs: z.int().min(1000).max(MAX_CERT_TTL_MS).default(DEFAULT_CERT_TTL_MS),
  caCertFile: z.string().min(1).optional(),
  caKeyFile: z.string().min(1).optional(),
  adminTokenFile: z.string().min(1).optional(),
  joinTokens: z.array(z.string()).default([]),
  joinTokensFile: z.string().min(1).optional(),
  tlsNames: z.array(z.string().min(1).max(253)).default([]),
  store: z.enum(['file', 'etcd']).default('file'),
  etcd: etcdOptionsSchema.optional(),
  caEncryptionKeyFile: z.string().min(1).optional(),
  caEncryptionKey: z.string().min(1).optional(),
})
  .refine((o) => o.store !== 'etcd' || o.etcd !== undefined, { path: ['etcd'], message: "store 'etcd' needs etcd.endpoints" })
  .refine((o) => (o.caCertFile === undefined) === (o.caKeyFile === undefined), { error: 'give caCertFile and caKeyFile together', path: ['caCertFile'] })
  .refine((o) => o.caEncryptionKeyFile === undefined || o.caEncryptionKey === undefined, {
    error: 'give caEncryptionKeyFile or caEncryptionKey, not both',
    path: ['caEncryptionKeyFile'],
  })
  .refine((o) => o.store === 'etcd' || (o.caEncryptionKeyFile === undefined && o.caEncryptionKey === undefined), {
    error: "the CA encryption key is for store 'etcd' (the file store keeps the CA in the data directory, 0600)",
    path: ['caEncryptionKeyFile'],
  })
  .refine((o) => o.store !== 'etcd' || o.insecure || o.caEncryptionKeyFile !== undefined || o.caEncryptionKey !== undefined, {
    error:
      "store 'etcd' keeps the CA's private key in etcd, encrypted: give every replica the same key with --ca-encryption-key-file <file> " +
      '(or HYPHAE_CA_ENCRYPTION_KEY); make one with: openssl rand -base64 32 > ca-encryption.key',
    path: ['caEncryptionKeyFile'],
  })
  .refine((o) => !o.insecure || (o.caCertFile === undefined && o.adminTokenFile === undefined && o.joinTokens.length === 0 && o.joinTokensFile === undefined && o.caEncryptionKeyFile === undefined && o.caEncryptionKey === undefined), {
    error: 'insecure runs without a CA and tokens: drop the CA and token options, or insecure',
    path: ['insecure'],
  });

export type ResolvedOptions = z.output<typeof optionsSchema>;

export function resolveOptions(options: ControlPlaneOptions): ResolvedOptions {
  return parseOrThrow(optionsSchema, options, 'control-plane options', ErrorCode.INVALID_OPTIONS);
}
