/**
 * Forwards an incoming HTTP request (a Node IncomingMessage / ServerResponse
 * pair) to a mesh service through the mesh's full client stack: discovery,
 * routes, retries and budgets, outlier detection, mTLS, deadlines, telemetry.
 * `hyphae proxy`'s outbound listener uses it, and so can a gateway's handler.
 *
 * - Bodies stream both ways. A request without a body goes without one, so
 *   that its retries stay possible (a stream cannot be sent twice).
 * - Hop-by-hop fields are dropped (hop-by-hop.ts); trace context
 *   (`traceparent`, `tracestate`, `baggage`) goes on as the client sent it.
 * - `x-hyphae-deadline-ms` is the client's remaining budget: the call gets no
 *   more than that, and the next hop hears what is left. Inside a wrapped
 *   server the inbound deadline intake already took it (the call inherits its
 *   context); elsewhere (a gateway's ports, which take it themselves) this
 *   function enters a context of its own, unless the edge does not trust it.
 * - A client that goes away aborts the call (and its body).
 * - A failure is answered 502, 503 or 504 with a coded JSON body (error-response.ts).
 *
 * The call goes through the mesh's dispatcher with the relay as its handler (relay.ts): the fast path,
 * `mesh.request`, would parse the answer's headers into an object and wrap its body in a stream only for
 * the relay to undo both.
 */
import type http from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { systemClock } from '../core/clock.js';
import { ErrorCode } from '../core/errors.js';
import { splitUrl } from '../core/split-url.js';
import { DEADLINE_HEADER, parseDeadlineHeader } from '../resilience/deadline.js';
import { currentRequestContext, RequestContext, runInRequestContext } from '../resilience/request-context.js';
import { ClientGoneError, ResponseRelay, type RelayFailure } from './relay.js';
import { respondWithError, sendEdgeError } from './error-response.js';
import { endToEndRequestHeaders, hasRequestBody } from './hop-by-hop.js';

/** What the forwarder needs of a Mesh: its dispatcher, nothing else. */
export interface MeshRequester {
  readonly dispatcher: Dispatcher;
}

export interface MeshTarget {
  /** The mesh service, a single DNS label. */
  service: string;
  /** The request target to send: `/path?query`. */
  path: string;
  /** An edge's own request fields: names (lower case) never forwarded from the client, in place of REPLACED (which it must include)... */
  drop?: ReadonlySet<string> | undefined;
  /** ...and the fields it sets instead, [name, value, ...] (a gateway's X-Forwarded-For, Forwarded). */
  add?: readonly string[] | undefined;
  /** The body to send in place of the request itself (a gateway's size-limited stream). */
  body?: Readable | undefined;
  /** More request options for the mesh call (a gateway's route table, under its symbol). */
  options?: object | undefined;
  /**
   * False: the client's `x-hyphae-deadline-ms` is not believed (a gateway's clients outside the mesh); it is
   * dropped like the other REPLACED fields and gives the call no budget. Default true (the proxy's own workload).
   */
  trustDeadline?: boolean | undefined;
}

/**
 * Set for the call, never taken from the caller: Host (the mesh call names the endpoint it picked, as every
 * mesh call does), the deadline (the budget left, written per attempt), and `expect`, since Node already
 * answered `100 Continue` and undici refuses the field.
 */
export const REPLACED: ReadonlySet<string> = new Set(['host', DEADLINE_HEADER, 'expect']);

/** Sends the request; its answer (or an error answer) follows on `res`. Never throws. */
export function forwardToMesh(mesh: MeshRequester, req: http.IncomingMessage, res: http.ServerResponse, target: MeshTarget): void {
  if (target.trustDeadline === false) return send(mesh, req, res, target);
  const budget = parseDeadlineHeader(req.headers[DEADLINE_HEADER]);
  if (budget === 0) {
    sendEdgeError(res, 504, ErrorCode.DEADLINE_EXCEEDED, 'the request arrived with no time left (x-hyphae-deadline-ms: 0)');
    return;
  }
  // A wrapped server's intake made the context already; a plain listener gets one here, only with a budget.
  if (budget === undefined || currentRequestContext() !== undefined) return send(mesh, req, res, target);
  const ctx = new RequestContext(systemClock.now() + budget);
  res.once('close', () => (res.writableFinished ? ctx.end() : ctx.cancel(new ClientGoneError())));
  runInRequestContext(ctx, send, mesh, req, res, target);
}

/** A failure before the answer started. The client that left (the relay's own abort) is answered nothing. */
const answerFailure: RelayFailure = (res, err, relay) => {
  if (relay.abortReason instanceof ClientGoneError || err instanceof ClientGoneError) return;
  respondWithError(res, err);
};

function send(mesh: MeshRequester, req: http.IncomingMessage, res: http.ServerResponse, target: MeshTarget): void {
  const body = hasRequestBody(req.headers) ? (target.body ?? req) : undefined;
  const relay = new ResponseRelay(res, body, answerFailure);
  try {
    const headers = endToEndRequestHeaders(req.rawHeaders, req.headers.connection, target.drop ?? REPLACED);
    const add = target.add;
    if (add !== undefined) for (let i = 0; i < add.length; i++) headers.push(add[i]!);
    const { origin, path } = callTarget(target.service, target.path);
    const options = { origin, path, method: req.method as Dispatcher.HttpMethod, headers, body };
    // Object.assign only for an edge that has options of its own: the proxy's calls keep their one shape.
    mesh.dispatcher.dispatch(target.options === undefined ? options : Object.assign(options, target.options), relay);
  } catch (err) {
    relay.onError(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * The call's origin and path. An origin-form target (`/path?query`, what nearly every request has) is the
 * path as it is; anything else (`*`, absolute form, a fragment) is split as mesh.request would split
 * `http://<service><target>`, so both name the call the same way.
 */
export function callTarget(service: string, target: string): { origin: string; path: string } {
  if (target.charCodeAt(0) === 47 /* / */ && !target.includes('#')) return { origin: `http://${service}`, path: target };
  return splitUrl(`http://${service}${target}`);
}
