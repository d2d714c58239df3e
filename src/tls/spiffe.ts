/**
 * SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md):
 * `spiffe://<trust-domain>/<path>`. hyphae workload identities have the path
 * `/ns/<namespace>/sa/<service>`, as Istio's do. Parsing is strict: anything
 * the standard forbids (upper case or a port in the trust domain, userinfo,
 * query, fragment, percent-encoding, empty or dot segments) is rejected.
 */
export interface SpiffeId {
  /** The full URI. */
  id: string;
  trustDomain: string;
  /** The path, starting with "/" (empty string for a trust-domain ID). */
  path: string;
}

export interface WorkloadIdentity extends SpiffeId {
  namespace: string;
  service: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Parse a SPIFFE ID; undefined when it is not a valid one (the reason does not matter to callers that refuse it). */
export function parseSpiffeId(uri: string): SpiffeId | undefined {
  return spiffeIdProblem(uri) === undefined ? split(uri) : undefined;
}

/** Why `uri` is not a valid SPIFFE ID, or undefined when it is. */
export function spiffeIdProblem(uri: string): string | undefined {
  if (typeof uri !== 'string' || uri.length === 0) return 'empty';
  if (uri.length > 2048) return 'longer than 2048 bytes';
  if (!uri.startsWith('spiffe://')) return 'scheme must be spiffe:// (lower case)';
  const { trustDomain, path } = split(uri);
  if (trustDomain.length === 0) return 'empty trust domain';
  if (trustDomain.includes('@')) return 'userinfo is not allowed';
  if (trustDomain.includes(':')) return 'a port is not allowed in the trust domain';
  if (!TRUST_DOMAIN.test(trustDomain)) return 'trust domain must be lower-case letters, digits, ".", "-" or "_"';
  if (/[?#]/.test(path)) return 'query and fragment are not allowed';
  if (path.includes('%')) return 'percent-encoding is not allowed';
  if (path === '') return undefined;
  if (path.endsWith('/')) return 'trailing "/" is not allowed';
  for (const seg of path.slice(1).split('/')) {
    if (seg === '') return 'empty path segment';
    if (seg === '.' || seg === '..') return 'dot segments are not allowed';
    if (!SEGMENT.test(seg)) return `path segment "${seg}" has characters outside A-Z a-z 0-9 . - _`;
  }
  return undefined;
}

/** A hyphae workload identity: `spiffe://<td>/ns/<namespace>/sa/<service>`. */
export function parseWorkloadId(uri: string): WorkloadIdentity | undefined {
  const id = parseSpiffeId(uri);
  if (!id) return undefined;
  const parts = id.path.split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') return undefined;
  const namespace = parts[2]!;
  const service = parts[4]!;
  if (!NAME.test(namespace) || !NAME.test(service)) return undefined;
  return { ...id, namespace, service };
}

export function workloadId(trustDomain: string, namespace: string, service: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${service}`;
}

/**
 * Match a principal pattern against a SPIFFE ID: `*` matches any, a pattern
 * ending in `*` matches by prefix, anything else must be equal.
 */
export function matchPrincipal(pattern: string, id: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return id.startsWith(pattern.slice(0, -1));
  return pattern === id;
}

function split(uri: string): { id: string; trustDomain: string; path: string } {
  const rest = uri.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? { id: uri, trustDomain: rest, path: '' } : { id: uri, trustDomain: rest.slice(0, slash), path: rest.slice(slash) };
}
