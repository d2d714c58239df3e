/**
 * An error that knows how it is answered on the wire. Handlers throw these;
 * the server turns them into an ApiErrorBody with the given status.
 */
import { ErrorCode, MeshError, type ErrorCodeValue } from '../../core/errors.js';
import type { ValidationIssue } from '../../config/validate.js';

export class HttpError extends MeshError {
  readonly status: number;
  readonly issues: ValidationIssue[] | undefined;
  readonly headers: Record<string, string>;
  /** The store's current revision, on a 409 conflict. */
  readonly revision: number | undefined;

  constructor(status: number, code: ErrorCodeValue, message: string, extra: { issues?: ValidationIssue[]; headers?: Record<string, string>; cause?: unknown; revision?: number } = {}) {
    super(code, message, { rejected: true, cause: extra.cause, details: extra.issues ? { issues: extra.issues } : undefined });
    this.status = status;
    this.issues = extra.issues;
    this.headers = extra.headers ?? {};
    this.revision = extra.revision;
  }
}

/**
 * Errors raised below the API (by a store) that are answers, not bugs: a
 * conflict is the caller's to resolve (409), an unavailable store is worth a
 * retry (503), a quota is the caller's to free (429), a full disk is the operator's to fix (507).
 * Anything else stays as it is (a 500 if it is not an HttpError).
 */
export function fromStoreError(err: unknown): unknown {
  if (!(err instanceof MeshError) || err instanceof HttpError) return err;
  if (err.code === ErrorCode.CONFLICT) {
    const revision = err.details?.revision;
    return new HttpError(409, err.code, err.message, { cause: err, revision: typeof revision === 'number' ? revision : undefined });
  }
  if (err.code === ErrorCode.STORE_UNAVAILABLE) return new HttpError(503, err.code, err.message, { cause: err, headers: { 'retry-after': '1' } });
  // No Retry-After: a slot frees when an instance deregisters or expires, which no clock here can promise.
  if (err.code === ErrorCode.QUOTA_EXCEEDED) return new HttpError(429, err.code, err.message, { cause: err });
  // 507 Insufficient Storage (RFC 4918): the request was fine, the server cannot store it; nothing was changed.
  if (err.code === ErrorCode.STORE_FULL) return new HttpError(507, err.code, err.message, { cause: err });
  return err;
}

export const badRequest = (message: string, issues?: ValidationIssue[]): HttpError => new HttpError(400, ErrorCode.BAD_REQUEST, message, { issues });

export const notFound = (message: string, code: ErrorCodeValue = ErrorCode.NOT_FOUND): HttpError => new HttpError(404, code, message);

export const conflict = (message: string): HttpError => new HttpError(409, ErrorCode.CONFLICT, message);

export const unauthenticated = (message: string): HttpError => new HttpError(401, ErrorCode.UNAUTHENTICATED, message, { headers: { 'www-authenticate': 'Bearer realm="hyphae"' } });

export const forbidden = (message: string): HttpError => new HttpError(403, ErrorCode.FORBIDDEN, message);
