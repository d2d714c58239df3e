/**
 * What an edge (the proxy, the gateway) answers when a forwarded request
 * fails: the mesh's error mapped to the status a plain HTTP client
 * understands, with a coded JSON body (`{ error: { code, message } }`, the
 * shape every refusal of the mesh has) so that scripts can match the code.
 *
 * 504: no time left (the caller's deadline, a route timeout). 503: the mesh
 * cannot send it now (no endpoint, limits, shedding, shutting down): trying
 * again later may work. 502: everything else, the peer or the path to it failed.
 * A gateway's own routing answers 404 (no route) and 429 (a rule's rate limit, with Retry-After).
 */
import type http from 'node:http';
import { ErrorCode, MeshError, type ErrorCodeValue } from '../core/errors.js';

const UNAVAILABLE: ReadonlySet<ErrorCodeValue> = new Set([
  ErrorCode.NO_ENDPOINTS,
  ErrorCode.CONCURRENCY_LIMIT,
  ErrorCode.OVERLOADED,
  ErrorCode.MESH_CLOSED,
  ErrorCode.CONTROL_PLANE_UNREACHABLE,
  ErrorCode.NO_CERTIFICATE,
  ErrorCode.AUTHZ_NOT_READY,
]);

const TIMED_OUT: ReadonlySet<ErrorCodeValue> = new Set([ErrorCode.DEADLINE_EXCEEDED, ErrorCode.TRY_TIMEOUT]);

export interface EdgeError {
  status: 404 | 413 | 429 | 502 | 503 | 504;
  code: ErrorCodeValue;
  message: string;
}

/** A MeshError keeps its code; anything else (a socket error from a plain client) is HYPHAE_ERR_UPSTREAM_ERROR. */
export function edgeError(err: unknown): EdgeError {
  if (err instanceof MeshError) {
    // A gateway's routing (its Routes are the mesh's): no rule for the request, or the rule's rate limit.
    if (err.code === ErrorCode.NO_ROUTE) return { status: 404, code: err.code, message: err.message };
    if (err.code === ErrorCode.RATE_LIMITED) return { status: 429, code: err.code, message: err.message };
    // A gateway's body limit, found while the body streamed.
    if (err.code === ErrorCode.PAYLOAD_TOO_LARGE) return { status: 413, code: err.code, message: err.message };
    const status = TIMED_OUT.has(err.code) ? 504 : UNAVAILABLE.has(err.code) ? 503 : 502;
    return { status, code: err.code, message: err.message };
  }
  return { status: 502, code: ErrorCode.UPSTREAM_ERROR, message: err instanceof Error ? err.message : String(err) };
}

/**
 * Answer `res` with a coded error, or, once the status line is out (the body was streaming), cut the
 * connection: a truncated body must not look complete to the client.
 */
export function sendEdgeError(res: http.ServerResponse, status: number, code: ErrorCodeValue, message: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.destroyed) return;
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { ...extra, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** sendEdgeError for a failure of the forwarded request. */
export function respondWithError(res: http.ServerResponse, err: unknown): void {
  const e = edgeError(err);
  const retryAfter = e.status === 429 ? (err as MeshError).details?.retryAfterSeconds : undefined;
  sendEdgeError(res, e.status, e.code, e.message, retryAfter === undefined ? {} : { 'retry-after': String(retryAfter as number) });
}
