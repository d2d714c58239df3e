/**
 * Every error hyphae raises is a MeshError with a stable `code`. Codes are API:
 * each one is documented in docs/errors.md, and test/core/errors.test.ts keeps
 * the list below and the document in step.
 */
export const ErrorCode = {
  INVALID_OPTIONS: 'HYPHAE_ERR_INVALID_OPTIONS',
  INVALID_CONFIG: 'HYPHAE_ERR_INVALID_CONFIG',
  SERVICE_NOT_FOUND: 'HYPHAE_ERR_SERVICE_NOT_FOUND',
  NO_ENDPOINTS: 'HYPHAE_ERR_NO_ENDPOINTS',
  MESH_CLOSED: 'HYPHAE_ERR_MESH_CLOSED',
  CONTROL_PLANE_UNREACHABLE: 'HYPHAE_ERR_CONTROL_PLANE_UNREACHABLE',
  CONTROL_PLANE_REJECTED: 'HYPHAE_ERR_CONTROL_PLANE_REJECTED',
  CONNECT_FAILED: 'HYPHAE_ERR_CONNECT_FAILED',
  UPSTREAM_RESET: 'HYPHAE_ERR_UPSTREAM_RESET',
  UPSTREAM_ERROR: 'HYPHAE_ERR_UPSTREAM_ERROR',
  PASSTHROUGH_DENIED: 'HYPHAE_ERR_PASSTHROUGH_DENIED',
  REGISTRATION_FAILED: 'HYPHAE_ERR_REGISTRATION_FAILED',
  // mTLS between workloads (issue 3).
  TLS_HANDSHAKE_FAILED: 'HYPHAE_ERR_TLS_HANDSHAKE_FAILED',
  PEER_IDENTITY_MISMATCH: 'HYPHAE_ERR_PEER_IDENTITY_MISMATCH',
  NO_CERTIFICATE: 'HYPHAE_ERR_NO_CERTIFICATE',
  // Resilience (issue 5): deadlines, retries, limits, shedding.
  DEADLINE_EXCEEDED: 'HYPHAE_ERR_DEADLINE_EXCEEDED',
  TRY_TIMEOUT: 'HYPHAE_ERR_TRY_TIMEOUT',
  CANCELLED: 'HYPHAE_ERR_CANCELLED',
  BODY_NOT_REPLAYABLE: 'HYPHAE_ERR_BODY_NOT_REPLAYABLE',
  CONCURRENCY_LIMIT: 'HYPHAE_ERR_CONCURRENCY_LIMIT',
  OVERLOADED: 'HYPHAE_ERR_OVERLOADED',
  // Ingress gateway (issue 16): answers of a gateway's routing, as coded bodies.
  /** No route attached to the gateway serves the request's listener, host and path (HTTP 404). */
  NO_ROUTE: 'HYPHAE_ERR_NO_ROUTE',
  /** The matched rule's LocalRateLimit bucket is empty (HTTP 429 with Retry-After). */
  RATE_LIMITED: 'HYPHAE_ERR_RATE_LIMITED',
  // Answers of the control plane's HTTP API (the `error.code` of a 4xx body).
  BAD_REQUEST: 'HYPHAE_ERR_BAD_REQUEST',
  PAYLOAD_TOO_LARGE: 'HYPHAE_ERR_PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'HYPHAE_ERR_UNSUPPORTED_MEDIA_TYPE',
  /** A browser marks the request as coming from another site's page (HTTP 403). */
  CROSS_ORIGIN: 'HYPHAE_ERR_CROSS_ORIGIN',
  /** The request's headers or body did not arrive within the listener's timeouts (HTTP 408, then the connection is closed). */
  REQUEST_TIMEOUT: 'HYPHAE_ERR_REQUEST_TIMEOUT',
  NOT_FOUND: 'HYPHAE_ERR_NOT_FOUND',
  METHOD_NOT_ALLOWED: 'HYPHAE_ERR_METHOD_NOT_ALLOWED',
  LEASE_NOT_FOUND: 'HYPHAE_ERR_LEASE_NOT_FOUND',
  /** `hyphae tap`: samples for a tap that is not open (it ended, or its reader left); the instance stops sending (HTTP 404). */
  TAP_NOT_FOUND: 'HYPHAE_ERR_TAP_NOT_FOUND',
  UNAUTHENTICATED: 'HYPHAE_ERR_UNAUTHENTICATED',
  FORBIDDEN: 'HYPHAE_ERR_FORBIDDEN',
  /** The request conflicts with the state: a write at a stale expected revision, a CA rotation already staged (HTTP 409). */
  CONFLICT: 'HYPHAE_ERR_CONFLICT',
  /** A stream over a cap: too many open with one token, or in all (HTTP 429). */
  TOO_MANY_STREAMS: 'HYPHAE_ERR_TOO_MANY_STREAMS',
  /** The replicated store (etcd) cannot take writes right now (HTTP 503); reads still answer from the cache. */
  STORE_UNAVAILABLE: 'HYPHAE_ERR_STORE_UNAVAILABLE',
  /** A registration past a quota: instances per join token, or per service (HTTP 429). */
  QUOTA_EXCEEDED: 'HYPHAE_ERR_QUOTA_EXCEEDED',
  /** A file of the control plane's data directory could not be written: no space left on its file system, or over quota (HTTP 507). */
  STORE_FULL: 'HYPHAE_ERR_STORE_FULL',
  /** A data directory or secret file that another user could have written (group/other-writable, or owned by someone else): refused at start. */
  UNSAFE_PERMISSIONS: 'HYPHAE_ERR_UNSAFE_PERMISSIONS',
  INTERNAL: 'HYPHAE_ERR_INTERNAL',
  /** A peering token that cannot be used: damaged, made for another cluster, or naming this cluster itself (HTTP 400). */
  PEERING_TOKEN_INVALID: 'HYPHAE_ERR_PEERING_TOKEN_INVALID',
  /** A peer cluster's update that fails validation or passes a quota: refused whole, what was imported before is kept. */
  PEER_DATA_REJECTED: 'HYPHAE_ERR_PEER_DATA_REJECTED',
  // Answers of a wrapped server's inbound layers, before the application runs (the `error.code` of the body).
  BAD_REQUEST_TARGET: 'HYPHAE_ERR_BAD_REQUEST_TARGET',
  AUTHZ_DENIED: 'HYPHAE_ERR_AUTHZ_DENIED',
  AUTHZ_NOT_READY: 'HYPHAE_ERR_AUTHZ_NOT_READY',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface MeshErrorOptions {
  cause?: unknown;
  /** Safe to try again, possibly on another endpoint. */
  retryable?: boolean;
  /** The request never left this process (nothing reached a peer). */
  rejected?: boolean;
  /** Structured context for logs and tooling (service, endpoint, issues...). */
  details?: Record<string, unknown>;
}

export class MeshError extends Error {
  override readonly name = 'MeshError';
  readonly code: ErrorCodeValue;
  readonly retryable: boolean;
  readonly rejected: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCodeValue, message: string, options: MeshErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.rejected = options.rejected ?? false;
    this.details = options.details;
  }
}

export function isMeshError(err: unknown, code?: ErrorCodeValue): err is MeshError {
  return err instanceof MeshError && (code === undefined || err.code === code);
}
