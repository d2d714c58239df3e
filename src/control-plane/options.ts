/** Options of createControlPlane(), validated so that a typo fails at start with a message naming the option. */
import { z } from 'zod';
import { ErrorCode } from '../core/errors.js';
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS } from '../config/instance.js';
import { clusterNameSchema, DEFAULT_CLUSTER } from '../config/names.js';
import { parseOrThrow } from '../config/validate.js';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, defaultMaxConnections } from '../core/listener-guard.js';
import { DEFAULT_SEND_TIMEOUT_MS } from '../core/send-stall.js';
import { LOG_FORMATS, type LogFormat, type LogSink } from './log.js';
import { DEFAULT_METRICS_MAX_CONNECTIONS } from './metrics/metrics-listener.js';
import { etcdOptionsSchema, type EtcdOptions } from './etcd/etcd-options.js';
import { DEFAULT_MAX_INSTANCES_PER_SERVICE, DEFAULT_MAX_INSTANCES_PER_TOKEN, MAX_INSTANCE_QUOTA } from './registry/quotas.js';

export const DEFAULT_PORT = 15010;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_TRUST_DOMAIN = 'hyphae.local';
export const DEFAULT_CERT_TTL_MS = 24 * 3600 * 1000;
export const MAX_CERT_TTL_MS = 365 * 24 * 3600 * 1000;
/** The shortest handshake, header or request timeout accepted (tests use it; production wants seconds). */
export const MIN_LISTENER_TIMEOUT_MS = 100;
/** Stats streams one token may hold open: a dashboard or two, not a way to make the control plane build summaries. */
export const DEFAULT_MAX_STATS_STREAMS_PER_TOKEN = 8;
export const DEFAULT_MAX_STATS_STREAMS = 256;
/**
 * Watch streams one join or viewer token may hold open: each instance of a service watches once, so twice the
 * instances a token may register (a client that reconnects has its old stream counted until the server sees it
 * gone). Without it one leaked token could take every connection of the cap with streams.
 */
export const DEFAULT_MAX_WATCH_STREAMS_PER_TOKEN = 2_048;
export const MAX_WATCH_STREAMS = 1_000_000;
/** Upper bound of both flags: each stream is a connection, and a write of every summary. */
export const MAX_STATS_STREAMS = 100_000;
/** One point of the dashboard's history per step; 60 are kept (15 minutes at the default). */
export const HISTORY_STEP_MS = 15_000;
/** A step shorter than a mesh's report interval would show gaps; one longer than 5 minutes is not a live chart. */
export const MIN_HISTORY_STEP_MS = 1_000;
export const MAX_HISTORY_STEP_MS = 300_000;

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
  /** A connection whose TLS handshake is not done this long after accept is closed. Default 5 s. */
  tlsHandshakeTimeoutMs?: number;
  /** A request whose headers are not all in this long after its first byte (a connection's first request: after accept or the TLS handshake) is answered 408 and closed. Default 10 s. */
  headersTimeoutMs?: number;
  /** A request (headers and body) not all in this long after its first byte is answered 408 and closed. Default 30 s. */
  requestTimeoutMs?: number;
  /** A connection with answer bytes waiting (a watch stream's events too), none of which the peer took for this long, is closed. Default 60 s. */
  sendTimeoutMs?: number;
  /**
   * Connections open at once; more are closed at accept (one log line when reached, one when cleared).
   * Default 4096, lowered to stay below the process's open-file limit.
   */
  maxConnections?: number;
  /** Live instances one join token may register (the admin token is not counted). Default 1,000. */
  maxInstancesPerToken?: number;
  /** Live instances one service may have, whoever registers them. Default 5,000. */
  maxInstancesPerService?: number;
  /** Stats streams (`GET /v1/stats/stream`) one token may hold open; the admin token counts as one. Default 8. */
  maxStatsStreamsPerToken?: number;
  /** Stats streams open in all. Default 256. */
  maxStatsStreams?: number;
  /** Watch streams (`GET /v1/watch`) one join or viewer token may hold open; the admin token has no cap. Default 2,048. */
  maxWatchStreamsPerToken?: number;
  /** One point of the dashboard's history per step (60 are kept). Default 15 s: 15 minutes. */
  statsHistoryStepMs?: number;
  /** Receives one line per significant event; silent when absent. */
  log?: LogSink;
  /**
   * `text` (default): an ISO timestamp and the message; `json`: one JSON object per line with `time`, `level`,
   * `msg`, `component` and the event's fields (docs/usage.md, "Control plane metrics and logs").
   */
  logFormat?: LogFormat;
  /**
   * A second listener, plain HTTP, serving `GET /metrics` without a token (Prometheus's usual scrape setup).
   * Off when absent. `host` defaults to 127.0.0.1: exposing it beyond the host is a deliberate choice.
   * `GET /metrics` on the API, with an admin or viewer token, is there either way.
   */
  metricsListen?: { port: number; host?: string; maxConnections?: number };
  /**
   * Plain HTTP, no CA, no tokens, mtlsMode null: anyone who reaches the API can register as any service
   * and change the configuration. For local experiments only; a warning is logged. Default false.
   */
  insecure?: boolean;
  /** The SPIFFE trust domain of workload identities. Default hyphae.local. */
  trustDomain?: string;
  /**
   * This control plane's cluster (issue 17): a DNS label, the name peers know it by and that imported
   * instances carry. Default "default". Replicas of one control plane share it.
   */
  cluster?: string;
  /** Lifetime of workload certificates, ms. Default 24 h; down to 1 s (tests). */
  certTtlMs?: number;
  /** The operator's CA certificate (PEM; an intermediate is followed by its chain up to the root) and key. Made here when absent. */
  caCertFile?: string;
  caKeyFile?: string;
  /**
   * On the file store, when the data directory holds what a CA leaves (ca-bundle.pem, tokens.json) but
   * not its state (ca.json), make a new root CA instead of refusing to start. Every
   * workload then needs the new trust bundle. Default false; ignored when the CA state is there.
   */
  newCa?: boolean;
  /** Read the admin token (at least 32 characters) from this file instead of making one in the data directory. */
  adminTokenFile?: string;
  /**
   * Pre-provisioned join tokens, `[<namespace>/]<service>=<secret>` (secret: 32 to 512 characters). In
   * memory only: the CLI takes them from HYPHAE_JOIN_TOKENS or files, never from its command line.
   */
  joinTokens?: string[];
  /** A file of join tokens, one `[<namespace>/]<service>=<secret>` per line. */
  joinTokensFile?: string;
  /** Join tokens whose secret is in a file: `[<namespace>/]<service>=<file>`, the file holding the secret alone. */
  joinTokenFiles?: string[];
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

const optionsSchema = z
  .strictObject({
    port: z.int().min(0).max(65535).default(DEFAULT_PORT),
    host: z.string().min(1).default(DEFAULT_HOST),
    dataDir: z.string().min(1),
    defaultTtlSeconds: z.number().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).default(DEFAULT_TTL_SECONDS),
    heartbeatMs: z.int().min(10).max(3_600_000).default(DEFAULT_HEARTBEAT_MS),
    restartHoldMs: z.int().min(0).max(3_600_000).optional(),
    bodyLimitBytes: z
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(DEFAULT_BODY_LIMIT_BYTES),
    tlsHandshakeTimeoutMs: z.int().min(MIN_LISTENER_TIMEOUT_MS).max(600_000).default(DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS),
    headersTimeoutMs: z.int().min(MIN_LISTENER_TIMEOUT_MS).max(600_000).default(DEFAULT_HEADERS_TIMEOUT_MS),
    requestTimeoutMs: z.int().min(MIN_LISTENER_TIMEOUT_MS).max(3_600_000).default(DEFAULT_REQUEST_TIMEOUT_MS),
    sendTimeoutMs: z.int().min(MIN_LISTENER_TIMEOUT_MS).max(3_600_000).default(DEFAULT_SEND_TIMEOUT_MS),
    maxConnections: z.int().min(1).max(1_000_000).optional(),
    maxInstancesPerToken: z.int().min(1).max(MAX_INSTANCE_QUOTA).default(DEFAULT_MAX_INSTANCES_PER_TOKEN),
    maxInstancesPerService: z.int().min(1).max(MAX_INSTANCE_QUOTA).default(DEFAULT_MAX_INSTANCES_PER_SERVICE),
    maxStatsStreamsPerToken: z.int().min(1).max(MAX_STATS_STREAMS).default(DEFAULT_MAX_STATS_STREAMS_PER_TOKEN),
    maxStatsStreams: z.int().min(1).max(MAX_STATS_STREAMS).default(DEFAULT_MAX_STATS_STREAMS),
    maxWatchStreamsPerToken: z.int().min(1).max(MAX_WATCH_STREAMS).default(DEFAULT_MAX_WATCH_STREAMS_PER_TOKEN),
    statsHistoryStepMs: z.int().min(MIN_HISTORY_STEP_MS).max(MAX_HISTORY_STEP_MS).default(HISTORY_STEP_MS),
    log: z.custom<LogSink>((v) => typeof v === 'function', 'must be a function').optional(),
    logFormat: z.enum(LOG_FORMATS).default('text'),
    metricsListen: z
      .strictObject({
        port: z.int().min(0).max(65535),
        host: z.string().min(1).default(DEFAULT_HOST),
        maxConnections: z.int().min(1).max(10_000).default(DEFAULT_METRICS_MAX_CONNECTIONS),
      })
      .optional(),
    insecure: z.boolean().default(false),
    trustDomain: z
      .string()
      .regex(/^[a-z0-9._-]{1,255}$/, 'must be a SPIFFE trust domain: lower-case letters, digits, ".", "-" or "_"')
      .default(DEFAULT_TRUST_DOMAIN),
    cluster: clusterNameSchema.default(DEFAULT_CLUSTER),
    certTtlMs: z.int().min(1000).max(MAX_CERT_TTL_MS).default(DEFAULT_CERT_TTL_MS),
    caCertFile: z.string().min(1).optional(),
    caKeyFile: z.string().min(1).optional(),
    newCa: z.boolean().default(false),
    adminTokenFile: z.string().min(1).optional(),
    joinTokens: z.array(z.string()).default([]),
    joinTokensFile: z.string().min(1).optional(),
    joinTokenFiles: z.array(z.string().min(1)).default([]),
    tlsNames: z.array(z.string().min(1).max(253)).default([]),
    store: z.enum(['file', 'etcd']).default('file'),
    etcd: etcdOptionsSchema.optional(),
    caEncryptionKeyFile: z.string().min(1).optional(),
    caEncryptionKey: z.string().min(1).optional(),
  })
  .refine((o) => o.headersTimeoutMs <= o.requestTimeoutMs, {
    path: ['headersTimeoutMs'],
    message: 'must not be longer than requestTimeoutMs (the headers are part of the request)',
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
  .refine((o) => o.store === 'file' || !o.newCa, {
    error: "newCa is for the file store: with store 'etcd' the first replica makes the CA when etcd holds none",
    path: ['newCa'],
  })
  .refine(
    (o) =>
      !o.insecure ||
      (o.caCertFile === undefined &&
        o.adminTokenFile === undefined &&
        o.joinTokens.length === 0 &&
        o.joinTokensFile === undefined &&
        o.joinTokenFiles.length === 0 &&
        o.caEncryptionKeyFile === undefined &&
        o.caEncryptionKey === undefined &&
        !o.newCa),
    {
      error: 'insecure runs without a CA and tokens: drop the CA and token options, or insecure',
      path: ['insecure'],
    },
  )
  // Derived here, once, so that every reader of the options sees the cap in force.
  .transform((o) => ({ ...o, maxConnections: o.maxConnections ?? defaultMaxConnections() }));

export type ResolvedOptions = z.output<typeof optionsSchema>;

export function resolveOptions(options: ControlPlaneOptions): ResolvedOptions {
  return parseOrThrow(optionsSchema, options, 'control-plane options', ErrorCode.INVALID_OPTIONS);
}
