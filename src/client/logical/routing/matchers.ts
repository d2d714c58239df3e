/**
 * Route matches compiled to predicates, once per config version: regexes are
 * built here, names lower-cased here, prefixes normalised here, so a request
 * only compares strings and runs prebuilt regexes.
 */
import { compileFullMatch } from '../../../config/regex.js';
import type { RouteMatch } from '../../../config/resources.js';
import type { MeshCall } from '../../call/mesh-call.js';

export type Predicate = (call: MeshCall) => boolean;

export interface CompiledMatch {
  predicates: Predicate[];
  /** For ReplacePrefixMatch: the prefix this match matched on (normalised, no trailing slash). */
  prefix: string | undefined;
  /** Gateway API precedence, most significant first (see route-table.ts). */
  pathRank: number;
  pathLength: number;
  hasMethod: boolean;
  headerCount: number;
  queryCount: number;
}

export const PATH_RANK = { Exact: 3, RegularExpression: 2, PathPrefix: 1 } as const;

/**
 * Whole-value regexes, linear-time whatever the pattern (see config/regex.ts); a value longer than
 * REGEX_MAX_INPUT_LENGTH does not match. A pattern that does not compile throws (the control plane
 * rejects those first), and route-table.ts leaves its rule out.
 */
const fullRegex = compileFullMatch;

/** Gateway API PathPrefix: element-wise, so /v1 matches /v1, /v1/ and /v1/x but not /v10; a trailing slash is ignored. */
export function normalisePrefix(value: string): string {
  return value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
}

export function prefixMatches(pathname: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return pathname.startsWith(prefix) && (pathname.length === prefix.length || pathname.charCodeAt(prefix.length) === 47);
}

export function compileMatch(m: RouteMatch): CompiledMatch {
  const predicates: Predicate[] = [];
  const path = m.path ?? { type: 'PathPrefix' as const, value: '/' };
  let prefix: string | undefined;
  switch (path.type) {
    case 'Exact': {
      const v = path.value;
      predicates.push((c) => c.pathname === v);
      break;
    }
    case 'PathPrefix': {
      const p = normalisePrefix(path.value);
      prefix = p;
      if (p !== '/') predicates.push((c) => prefixMatches(c.pathname, p));
      break;
    }
    case 'RegularExpression': {
      const re = fullRegex(path.value);
      predicates.push((c) => re.test(c.pathname));
      break;
    }
  }
  if (m.method !== undefined) {
    const method = m.method;
    predicates.push((c) => c.opts.method === method || c.opts.method.toUpperCase() === method);
  }
  for (const h of m.headers ?? []) {
    const name = h.name;
    if (h.type === 'Present') predicates.push((c) => c.hasHeader(name));
    else if (h.type === 'Exact') {
      const value = h.value!;
      predicates.push((c) => c.header(name) === value);
    } else {
      const re = fullRegex(h.value!);
      predicates.push((c) => {
        const v = c.header(name);
        return v !== undefined && re.test(v);
      });
    }
  }
  for (const q of m.queryParams ?? []) {
    const name = q.name;
    if (q.type === 'Present') predicates.push((c) => c.query(name) !== undefined);
    else if (q.type === 'Exact') {
      const value = q.value!;
      predicates.push((c) => c.query(name) === value);
    } else {
      const re = fullRegex(q.value!);
      predicates.push((c) => {
        const v = c.query(name);
        return v !== undefined && re.test(v);
      });
    }
  }
  return {
    predicates,
    prefix,
    pathRank: PATH_RANK[path.type],
    pathLength: path.type === 'PathPrefix' ? normalisePrefix(path.value).length : path.value.length,
    hasMethod: m.method !== undefined,
    headerCount: m.headers?.length ?? 0,
    queryCount: m.queryParams?.length ?? 0,
  };
}
