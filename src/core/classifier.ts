/**
 * The one classifier. Each attempt of a call gets ONE verdict, made once in
 * the client's endpoint tier (its Attempt, or the error it failed with), and
 * every layer that needs to know what happened reads that verdict: retry (the
 * condition, and whether replaying is safe), outlier detection (was the
 * endpoint at fault), the dispatcher's error mapping (the failure class) and
 * telemetry (the outcome). Nothing else decides what failed. Finagle's
 * ResponseClassifier and grpc-js's RpcProgress are the models.
 *
 * Verdicts are shared constants (one per status, one per kind of error), so
 * reading one on the hot path allocates nothing.
 */
import { ErrorCode, MeshError } from './errors.js';

export type Outcome = 'success' | 'retryable' | 'failure';

/** What failed. */
export type FailureClass =
  /** a response the classifier counts as success */
  | 'none'
  /** an error status from the peer's application */
  | 'status'
  /** the peer's mesh answered before its application ran (`x-hyphae-rejected`: shed, deadline) */
  | 'refused'
  /** the endpoint could not be reached or used (connect, TLS handshake, peer identity) */
  | 'connect'
  /** the connection broke before a response */
  | 'reset'
  /** the per-try timeout stopped the attempt */
  | 'try-timeout'
  /** the call was stopped: the application, its deadline, the inbound request gone */
  | 'cancelled'
  /** this process refused the call itself (a limit, no endpoint, no certificate...) */
  | 'local'
  /** the request itself was wrong (an invalid argument, a body shorter than announced) */
  | 'request'
  /** any other transport failure */
  | 'other';

/** How far the request got: whether replaying it could repeat its effect. */
export type Progress = 'not-sent' | 'refused' | 'maybe-processed' | 'processed';

/** The retry conditions (Service.spec.retries.on) plus 'refused'; whether a policy retries one is the policy's business. */
export type RetryCondition = 'connect-failure' | 'reset' | 'retriable-status' | 'per-try-timeout';

export interface Verdict {
  readonly outcome: Outcome;
  readonly failure: FailureClass;
  readonly progress: Progress;
  /** What outlier detection counts: a success, a failure of the endpoint, or nothing (not the endpoint's doing). */
  readonly endpoint: 'healthy' | 'at-fault' | 'neutral';
  /**
   * The retry condition this attempt matches; undefined: never retried. An
   * error status (4xx, 5xx) matches 'retriable-status' whatever its code: the
   * policy's statusCodes say which are retried.
   */
  readonly condition: RetryCondition | 'refused' | undefined;
  /** The response status; 0 for a failure without a response. */
  readonly status: number;
}

export interface ClassifierPolicy {
  /** Status codes that are safe to try again elsewhere. */
  retryableStatus: ReadonlySet<number>;
  /** Status codes that count as failures (for outlier detection and metrics). */
  isFailureStatus: (status: number) => boolean;
}

export const defaultClassifierPolicy: ClassifierPolicy = {
  retryableStatus: new Set([502, 503, 504]),
  isFailureStatus: (status) => status >= 500,
};

// Socket-level errors that mean the request did not get a response from the peer.
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

export function errorKind(err: unknown): 'connect' | 'reset' | 'other' {
  let e: unknown = err;
  // Look through MeshError wrappers to the transport's own error.
  for (let depth = 0; depth < 4 && e != null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (CONNECT_CODES.has(code)) return 'connect';
      if (RESET_CODES.has(code)) return 'reset';
    }
    e = (e as { cause?: unknown }).cause;
  }
  return 'other';
}

export function classifyStatus(status: number, policy: ClassifierPolicy = defaultClassifierPolicy): Outcome {
  if (policy.retryableStatus.has(status)) return 'retryable';
  return policy.isFailureStatus(status) ? 'failure' : 'success';
}

/** The outcome of an error, as its verdict says. */
export function classifyError(err: unknown): Outcome {
  return errorVerdict(err).outcome;
}

function verdict(outcome: Outcome, failure: FailureClass, progress: Progress, endpoint: Verdict['endpoint'], condition: Verdict['condition'], status = 0): Verdict {
  return Object.freeze({ outcome, failure, progress, endpoint, condition, status });
}

// ---- responses

/** Verdicts of responses by status (the default classifier), made on first use; refusals apart. */
const byStatus: (Verdict | undefined)[] = [];
const refusedByStatus: (Verdict | undefined)[] = [];

function statusVerdict(status: number, policy: ClassifierPolicy): Verdict {
  const outcome = classifyStatus(status, policy);
  const condition = status >= 400 ? 'retriable-status' : undefined;
  if (outcome === 'success') return verdict('success', 'none', 'processed', 'healthy', condition, status);
  return verdict(outcome, 'status', 'processed', 'at-fault', condition, status);
}

/**
 * The verdict of a response. `refused`: the endpoint tier found the peer's
 * mesh refusal header (`x-hyphae-rejected`) on a 503 or 504 — the request
 * never reached the peer's application, so it may be replayed whatever its
 * method, and the endpoint, alive and answering fast, is not held to account
 * (ejecting an overloaded endpoint only moves its load).
 */
export function responseVerdict(status: number, refused = false, policy: ClassifierPolicy = defaultClassifierPolicy): Verdict {
  if (refused && (status === 503 || status === 504)) {
    return (refusedByStatus[status] ??= verdict('retryable', 'refused', 'refused', 'neutral', 'refused', status));
  }
  if (policy !== defaultClassifierPolicy || !(status >= 100 && status < 600)) return statusVerdict(status, policy);
  return (byStatus[status] ??= statusVerdict(status, policy));
}

// ---- errors

const CANCELLED = verdict('failure', 'cancelled', 'maybe-processed', 'neutral', undefined);
const TRY_TIMEOUT = verdict('retryable', 'try-timeout', 'maybe-processed', 'at-fault', 'per-try-timeout');
const TRY_TIMEOUT_FINAL = verdict('failure', 'try-timeout', 'maybe-processed', 'at-fault', 'per-try-timeout');
const CONNECT = verdict('retryable', 'connect', 'not-sent', 'at-fault', 'connect-failure');
const CONNECT_FINAL = verdict('failure', 'connect', 'not-sent', 'at-fault', undefined);
const RESET = verdict('retryable', 'reset', 'maybe-processed', 'at-fault', 'reset');
const OTHER = verdict('failure', 'other', 'maybe-processed', 'at-fault', undefined);
const OTHER_RETRYABLE = verdict('retryable', 'other', 'maybe-processed', 'at-fault', undefined);
const LOCAL_NOT_SENT = verdict('failure', 'local', 'not-sent', 'neutral', undefined);
const LOCAL_NOT_SENT_RETRYABLE = verdict('retryable', 'local', 'not-sent', 'neutral', undefined);
const LOCAL_MAYBE = verdict('failure', 'local', 'maybe-processed', 'neutral', undefined);
const LOCAL_MAYBE_RETRYABLE = verdict('retryable', 'local', 'maybe-processed', 'neutral', undefined);
const REQUEST = verdict('failure', 'request', 'not-sent', 'neutral', undefined);
const ABORTED = verdict('failure', 'cancelled', 'maybe-processed', 'neutral', undefined);
/**
 * A stream cut by the server's graceful HTTP/2 GOAWAY (code 0, NO_ERROR: a drain). undici (7.x, nodejs/undici#5089)
 * fails the session's open streams then instead of letting them finish: a reset as far as retries go, but
 * the endpoint did what a draining server should, so outlier detection holds nothing against it.
 */
const GOAWAY = verdict('retryable', 'reset', 'maybe-processed', 'neutral', 'reset');
/** undici's message for a GOAWAY received (its only sign of one); code 0 is NO_ERROR. */
const GRACEFUL_GOAWAY = 'HTTP/2: "GOAWAY" frame received with code 0';

/** Mesh errors raised before anything was sent because the chosen endpoint could not be used. */
const CONNECT_LIKE: ReadonlySet<string> = new Set([ErrorCode.CONNECT_FAILED, ErrorCode.TLS_HANDSHAKE_FAILED, ErrorCode.PEER_IDENTITY_MISMATCH]);
/** Mesh errors of the call's own stopping (its deadline, the inbound request cancelled). */
const CANCEL_CODES: ReadonlySet<string> = new Set([ErrorCode.DEADLINE_EXCEEDED, ErrorCode.CANCELLED]);
/** undici errors that say the request was wrong, not the endpoint. */
const REQUEST_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_NOT_SUPPORTED']);
/** undici's and the platform's own abort errors: the request was stopped on purpose. */
const ABORT_CODES = new Set(['UND_ERR_ABORTED', 'ABORT_ERR']);

/** The verdict already made for an error (by the endpoint tier, or by the first reader of an error raised above it). */
const made = new WeakMap<object, Verdict>();

/**
 * The verdict of an attempt (or a call) that failed with `err`. Made once per
 * error object and remembered: the endpoint tier makes it as the attempt
 * fails, and every later reader gets the same answer. `cancelled`: the call
 * had been stopped (the application, its deadline) — whatever the error says
 * then, it is not the endpoint's doing and is never retried. That is the
 * call's state, not the error's (undici hands one socket error to every
 * request queued on the socket, of calls stopped or not), so it is not
 * remembered on the error.
 */
export function errorVerdict(err: unknown, cancelled = false): Verdict {
  if (cancelled) return CANCELLED;
  if (typeof err !== 'object' || err === null) return OTHER;
  let v = made.get(err);
  if (v === undefined) {
    v = classifyErrorOnce(err);
    made.set(err, v);
  }
  return v;
}

function classifyErrorOnce(err: object): Verdict {
  if (err instanceof MeshError) {
    const code = err.code;
    if (code === ErrorCode.TRY_TIMEOUT) return err.retryable ? TRY_TIMEOUT : TRY_TIMEOUT_FINAL;
    // The endpoint could not be used and nothing was sent (a connect timeout, a failed mTLS handshake, the
    // wrong peer identity): another endpoint may be fine, whatever the method.
    if (err.rejected && err.retryable && CONNECT_LIKE.has(code)) return CONNECT;
    if (code === ErrorCode.CONNECT_FAILED || code === ErrorCode.UPSTREAM_RESET) {
      const kind = errorKind(err);
      if (kind === 'connect') return CONNECT;
      if (kind === 'reset') return RESET;
      return err.retryable ? OTHER_RETRYABLE : OTHER;
    }
    if (code === ErrorCode.TLS_HANDSHAKE_FAILED || code === ErrorCode.PEER_IDENTITY_MISMATCH) return CONNECT_FINAL;
    if (code === ErrorCode.UPSTREAM_ERROR) return err.retryable ? OTHER_RETRYABLE : OTHER;
    if (CANCEL_CODES.has(code)) return CANCELLED;
    // This process's own refusals (a limit, no endpoint, no certificate, a closed mesh...): the endpoint did nothing.
    if (err.rejected) return err.retryable ? LOCAL_NOT_SENT_RETRYABLE : LOCAL_NOT_SENT;
    return err.retryable ? LOCAL_MAYBE_RETRYABLE : LOCAL_MAYBE;
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (REQUEST_CODES.has(code)) return REQUEST;
    if (ABORT_CODES.has(code)) return ABORTED;
    if (code === 'UND_ERR_SOCKET' && (err as { message?: unknown }).message === GRACEFUL_GOAWAY) return GOAWAY;
  }
  switch (errorKind(err)) {
    case 'connect':
      return CONNECT;
    case 'reset':
      return RESET;
    default:
      return OTHER;
  }
}
