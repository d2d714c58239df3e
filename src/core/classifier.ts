/**
 * The single response classifier. Retry, outlier detection and metrics all ask
 * it, so "what counts as a failure" is decided in one place, as data.
 */
import { MeshError } from './errors.js';

export type Outcome = 'success' | 'retryable' | 'failure';

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

export function classifyError(err: unknown): Outcome {
  if (err instanceof MeshError) return err.retryable ? 'retryable' : 'failure';
  return errorKind(err) === 'other' ? 'failure' : 'retryable';
}
