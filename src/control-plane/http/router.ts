/**
 * A small method + path router. Routes are data (method, pattern, what body
 * and query they take) so that the checks every endpoint needs (404, 405 with
 * Allow, body limits, unknown query parameters) live here once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '../../core/errors.js';
import type { AuthLevel, Principal } from '../auth/principal.js';
import { HttpError, badRequest, notFound } from './http-error.js';
import type { Target } from './target.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body; undefined when the body is empty or the route takes none. */
  body: unknown;
  /** Who is calling (undefined on routes that need no token). */
  principal: Principal | undefined;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: Method;
  /** e.g. `/v1/leases/:leaseId`; a `:name` segment matches any one segment. */
  path: string;
  /** `required`: a JSON body must be sent; `optional`: empty or JSON; `none` (default): read and discarded. */
  body?: 'required' | 'optional' | 'none';
  /**
   * Which token the route needs: none, any valid one (a join token or the admin token), or the admin
   * token. Absent means admin: a new route is closed until someone decides otherwise.
   */
  auth?: AuthLevel;
  /** Query parameters the route understands; any other is a 400 (a typo should not pass silently). */
  query?: readonly string[];
  /** Returns the answer, or undefined when the handler has taken over the response (streams). */
  handle(ctx: RouteContext): Reply | undefined | Promise<Reply | undefined>;
}

interface Compiled {
  route: Route;
  parts: { literal?: string; param?: string }[];
}

export interface Match {
  route: Route;
  params: Record<string, string>;
}

export class Router {
  #routes: Compiled[];

  constructor(routes: readonly Route[]) {
    this.#routes = routes.map((route) => ({
      route,
      parts: route.path
        .slice(1)
        .split('/')
        .map((p) => (p.startsWith(':') ? { param: p.slice(1) } : { literal: p })),
    }));
  }

  /** The route for this method and path, or the 404/405 that says why there is none. */
  match(method: string | undefined, target: Target): Match {
    const allowed: string[] = [];
    for (const c of this.#routes) {
      const params = matchParts(c.parts, target.segments);
      if (!params) continue;
      if (c.route.method === method) {
        checkQuery(c.route, target.query);
        return { route: c.route, params };
      }
      allowed.push(c.route.method);
    }
    if (allowed.length === 0) throw notFound(`no endpoint at ${target.path.slice(0, 200)}`);
    throw new HttpError(405, ErrorCode.METHOD_NOT_ALLOWED, `${String(method).slice(0, 20)} is not allowed on ${target.path}; use ${allowed.join(' or ')}`, {
      headers: { allow: allowed.join(', ') },
    });
  }
}

function matchParts(parts: Compiled['parts'], segments: readonly string[]): Record<string, string> | undefined {
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const seg = segments[i]!;
    if (part.literal !== undefined) {
      if (part.literal !== seg) return undefined;
    } else {
      if (seg === '') return undefined;
      params[part.param!] = seg;
    }
  }
  return params;
}

function checkQuery(route: Route, query: URLSearchParams): void {
  const known = route.query ?? [];
  const unknown = [...new Set(query.keys())].filter((k) => !known.includes(k));
  if (unknown.length === 0) return;
  const accepted = known.length > 0 ? `; accepted: ${known.join(', ')}` : '; this endpoint takes none';
  throw badRequest(
    `unknown query parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k.slice(0, 50))).join(', ')}${accepted}`,
    unknown.map((k) => ({ path: `query.${k.slice(0, 50)}`, message: 'unknown query parameter' })),
  );
}
