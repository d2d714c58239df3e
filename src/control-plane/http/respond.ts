/** Writing answers: JSON bodies and ApiErrorBody errors, never throwing on a dead socket. */
import type { ServerResponse } from 'node:http';
import { ErrorCode } from '../../core/errors.js';
import { CLUSTER_HEADER } from '../../config/cluster-header.js';
import type { ApiErrorBody } from '../../config/wire.js';
import { HttpError } from './http-error.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  if (body === undefined) {
    res.writeHead(status, { 'cache-control': 'no-store', ...headers });
    res.end();
    return;
  }
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** A body already serialised (a summary shared by many readers). */
export function sendJsonText(res: ServerResponse, status: number, json: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(json);
}

/** The wire form of an error; anything that is not an HttpError is a bug and says no more than that. */
export function errorReply(err: unknown): { status: number; body: ApiErrorBody; headers: Record<string, string> } {
  if (err instanceof HttpError) {
    const body: ApiErrorBody = { error: { code: err.code, message: err.message } };
    if (err.issues) body.error.issues = err.issues;
    if (err.revision !== undefined) body.error.revision = err.revision;
    return { status: err.status, body, headers: { ...err.headers } };
  }
  return {
    status: 500,
    body: { error: { code: ErrorCode.INTERNAL, message: 'internal error in the control plane; the details are in its log' } },
    headers: {},
  };
}

/**
 * Names this control plane's cluster on an answer before anything writes its head (config/cluster-header.ts
 * says why a header). Set with setHeader, so a route that writes its own head (a stream) keeps it.
 */
export function clusterHeaders(cluster: string | undefined): (res: ServerResponse) => void {
  if (cluster === undefined) return () => {};
  return (res) => {
    res.setHeader(CLUSTER_HEADER, cluster);
  };
}
