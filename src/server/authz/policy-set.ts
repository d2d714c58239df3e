/**
 * AuthorizationPolicy resources compiled into matchers, once per change; a
 * request is then checked with no lookup by string building and no regex.
 *
 * Semantics (Istio's): DENY policies first, any match denies; then, when at
 * least one ALLOW policy applies, the request must match one of them; with no
 * policy at all, everything is allowed. A policy matches when any of its rules
 * matches; a rule matches when every part it sets matches. A policy without
 * rules matches nothing (so an ALLOW without rules denies everything), a rule
 * `{}` matches every request.
 *
 * A DENY path also matches the spellings that common routers send to the same
 * handler: without regard to ASCII case (Express routes without case by
 * default, Fastify with caseSensitive: false), and an Exact one with or
 * without a trailing slash (Express's non-strict routing, Fastify's
 * ignoreTrailingSlash). Matching more is the safe side for a DENY only: ALLOW
 * paths match exactly as written, so a spelling the policy did not name is
 * denied, never let through.
 */
import type { AuthorizationPolicyResource } from '../../config/resources.js';
import { matchPrincipal } from '../../tls/spiffe.js';
import type { PeerIdentity } from '../peer.js';
import { DEFAULT_SEMICOLONS, normalizeTarget, type SemicolonMode } from './normalize-path.js';

/** Why a request was denied: shared per policy, so a denial allocates nothing. */
export interface Denial {
  /** `namespace/name` of the DENY policy that matched, or undefined for "no ALLOW policy matched". */
  readonly policy: string | undefined;
  /** Short, safe to send to the caller: it names no rule and no policy. */
  readonly reason: string;
}

const SLASH = 0x2f;
const PERCENT = 0x25;
const LOWER_K = 0x6b;
const KELVIN_SIGN = '%E2%84%AA';

export const DEFAULT_DENY: Denial = Object.freeze({ policy: undefined, reason: 'no ALLOW policy matches this request' });

interface PrincipalMatcher {
  exact: Set<string>;
  /** `*` and `prefix*` patterns, checked with matchPrincipal. */
  patterns: string[];
}

interface PathMatcher {
  exact: boolean;
  /** For a prefix, without its trailing slash (`/` becomes `` and matches every path). In a DENY: lower case, and an Exact one without its trailing slash too. */
  value: string;
}

interface HeaderMatcher {
  name: string;
  values: ValueMatcher[];
}

type ValueMatcher = { kind: 'exact' | 'prefix' | 'suffix'; value: string } | { kind: 'present' };

interface CompiledRule {
  /** A DENY rule's paths match without case, and an Exact one with or without a trailing slash. */
  deny: boolean;
  principals: PrincipalMatcher | undefined;
  namespaces: Set<string> | undefined;
  clusters: Set<string> | undefined;
  notClusters: Set<string> | undefined;
  paths: PathMatcher[] | undefined;
  methods: Set<string> | undefined;
  headers: HeaderMatcher[] | undefined;
}

interface CompiledPolicy {
  denial: Denial;
  rules: CompiledRule[];
}

export interface PolicySet {
  /** Number of policies compiled in. */
  readonly size: number;
  /**
   * undefined when the request is allowed, else why it is denied.
   * `path` is the normalized path; `rawHeaders` as Node gives them (name, value, name, value...).
   */
  check(method: string, path: string, peer: PeerIdentity | undefined, rawHeaders: readonly string[]): Denial | undefined;
}

export const ALLOW_ALL: PolicySet = { size: 0, check: () => undefined };

/**
 * Compile a workload's policies. `semicolons` is the server's SemicolonMode: how its requests' paths treat `;`.
 * Throws only on a path the schema should have refused (the caller keeps the last good set).
 */
export function compilePolicies(policies: readonly AuthorizationPolicyResource[], semicolons: SemicolonMode = DEFAULT_SEMICOLONS): PolicySet {
  if (policies.length === 0) return ALLOW_ALL;
  const deny: CompiledPolicy[] = [];
  const allow: CompiledPolicy[] = [];
  for (const p of policies) {
    const isDeny = p.spec.action === 'DENY';
    const id = `${p.metadata.namespace}/${p.metadata.name}`;
    const denial: Denial = Object.freeze({ policy: isDeny ? id : undefined, reason: 'denied by an authorization policy' });
    (isDeny ? deny : allow).push({ denial, rules: p.spec.rules.map((r) => compileRule(r, isDeny, semicolons)) });
  }
  const hasAllow = allow.length > 0;
  return {
    size: policies.length,
    check(method, path, peer, rawHeaders) {
      for (const p of deny) if (anyRule(p.rules, method, path, peer, rawHeaders)) return p.denial;
      if (!hasAllow) return undefined;
      for (const p of allow) if (anyRule(p.rules, method, path, peer, rawHeaders)) return undefined;
      return DEFAULT_DENY;
    },
  };
}

type Rule = AuthorizationPolicyResource['spec']['rules'][number];

function compileRule(rule: Rule, deny: boolean, semicolons: SemicolonMode): CompiledRule {
  const principals = rule.from?.principals;
  return {
    deny,
    principals: principals && {
      exact: new Set(principals.filter((p) => !p.endsWith('*'))),
      patterns: principals.filter((p) => p.endsWith('*')),
    },
    namespaces: rule.from?.namespaces && new Set(rule.from.namespaces),
    clusters: rule.from?.clusters && new Set(rule.from.clusters),
    notClusters: rule.from?.notClusters && new Set(rule.from.notClusters),
    paths: rule.to?.paths?.flatMap((p) => compilePath(p, deny, semicolons)),
    methods: rule.to?.methods && new Set<string>(rule.to.methods),
    headers: rule.when?.headers.map((h) => ({ name: h.name, values: h.values.map(compileValue) })),
  };
}

/** The path's matcher; none (the entry never matches) for an ALLOW path no request on this server can have. */
function compilePath(p: { type: 'Exact' | 'PathPrefix'; value: string }, deny: boolean, semicolons: SemicolonMode): PathMatcher[] {
  // Written the way requests are normalized, so `/%7Euser` in a policy matches a request for `/~user`.
  let normal = normalizeTarget(p.value, 'keep');
  if (typeof normal !== 'string' || normal.includes('?')) throw new Error(`authorization path ${JSON.stringify(p.value)} is not a normalized path`);
  if (semicolons !== 'keep' && normal.includes(';')) {
    // No request path here carries a `;`: it was cut there (strip) or refused (reject). An ALLOW for one would
    // let through what its author did not name, so it never matches; a DENY covers the path such a request is
    // handled as (strip), which denies more, never less, than it says.
    if (!deny || semicolons === 'reject') return [];
    const cut = normalizeTarget(normal, 'strip');
    // Refused: it holds a `%3B` before its `;`, and requests with one never get this far.
    if (typeof cut !== 'string') return [];
    normal = cut;
  }
  if (deny) normal = normal.toLowerCase();
  if (p.type === 'Exact') return [{ exact: true, value: deny && normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal }];
  // Gateway API PathPrefix: a trailing `/` is ignored, and the match is element by element.
  return [{ exact: false, value: normal.endsWith('/') ? normal.slice(0, -1) : normal }];
}

function compileValue(v: string): ValueMatcher {
  if (v === '*') return { kind: 'present' };
  if (v.endsWith('*')) return { kind: 'prefix', value: v.slice(0, -1) };
  if (v.startsWith('*')) return { kind: 'suffix', value: v.slice(1) };
  return { kind: 'exact', value: v };
}

function anyRule(rules: CompiledRule[], method: string, path: string, peer: PeerIdentity | undefined, rawHeaders: readonly string[]): boolean {
  for (const r of rules) if (ruleMatches(r, method, path, peer, rawHeaders)) return true;
  return false;
}

function ruleMatches(r: CompiledRule, method: string, path: string, peer: PeerIdentity | undefined, rawHeaders: readonly string[]): boolean {
  // No verified identity (plaintext): a rule about the source cannot match, whatever it says.
  if (r.principals && (!peer || !principalMatches(r.principals, peer.id))) return false;
  if (r.namespaces && (!peer || !r.namespaces.has(peer.namespace))) return false;
  // A certificate that names no cluster (an older CA's) is in no listed cluster: `clusters` never matches it,
  // `notClusters` always does. So an ALLOW by `clusters` and a DENY by `notClusters` both keep it out.
  if (r.clusters && (!peer || peer.cluster === undefined || !r.clusters.has(peer.cluster))) return false;
  if (r.notClusters && (!peer || (peer.cluster !== undefined && r.notClusters.has(peer.cluster)))) return false;
  if (r.methods && !r.methods.has(method)) return false;
  if (r.paths && !(r.deny ? denyPathMatches(r.paths, path) : pathMatches(r.paths, path))) return false;
  if (r.headers) for (const h of r.headers) if (!headerMatches(h, rawHeaders)) return false;
  return true;
}

function principalMatches(m: PrincipalMatcher, id: string): boolean {
  if (m.exact.has(id)) return true;
  for (const p of m.patterns) if (matchPrincipal(p, id)) return true;
  return false;
}

function pathMatches(paths: PathMatcher[], path: string): boolean {
  for (const p of paths) {
    if (p.exact ? path === p.value : path.startsWith(p.value) && (path.length === p.value.length || path.charCodeAt(p.value.length) === SLASH)) return true;
  }
  return false;
}

/** pathMatches for a DENY: `value` is in lower case, and an Exact one also matches with one trailing slash. */
function denyPathMatches(paths: PathMatcher[], path: string): boolean {
  for (const p of paths) {
    const end = foldedPrefixEnd(path, p.value);
    if (end < 0) continue;
    if (end === path.length) return true;
    if (path.charCodeAt(end) === SLASH && (!p.exact || end + 1 === path.length)) return true;
  }
  return false;
}

/**
 * Where in `path` a prefix equal to `lower` (ASCII, lower case) ends when the
 * path is read in lower case, or -1; no allocation. Read as a router that
 * lower-cases the decoded path reads it (find-my-way with caseSensitive: false:
 * decodeURI, then String#toLowerCase): ASCII letters, and the Kelvin sign
 * (U+212A, `%E2%84%AA` once normalized), the one character outside ASCII that
 * lower-cases to a single ASCII letter, `k`.
 */
function foldedPrefixEnd(path: string, lower: string): number {
  // The Kelvin sign only makes a path longer than what it matches: a shorter path cannot match.
  if (path.length < lower.length) return -1;
  for (let i = 0; i < lower.length; i++) {
    const c = path.charCodeAt(i);
    const l = lower.charCodeAt(i);
    if (c === l || (c >= 0x41 && c <= 0x5a && (c | 0x20) === l)) continue;
    return c === PERCENT ? kelvinPrefixEnd(path, lower, i) : -1;
  }
  return lower.length;
}

/** foldedPrefixEnd from the first `%` on, where `path` and `lower` stop being aligned (kept out of the common loop). */
function kelvinPrefixEnd(path: string, lower: string, from: number): number {
  let i = from;
  for (let j = from; j < lower.length; j++, i++) {
    if (i >= path.length) return -1;
    let c = path.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    else if (c === PERCENT && lower.charCodeAt(j) === LOWER_K && path.startsWith(KELVIN_SIGN, i)) {
      i += KELVIN_SIGN.length - 1;
      continue;
    }
    if (c !== lower.charCodeAt(j)) return -1;
  }
  return i;
}

/**
 * Every occurrence of the header is looked at on its own (rawHeaders), not
 * Node's comma-joined value: sending a header twice must not turn a DENY's
 * exact match into a miss.
 */
function headerMatches(h: HeaderMatcher, raw: readonly string[]): boolean {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== h.name.length || name.toLowerCase() !== h.name) continue;
    const value = raw[i + 1]!;
    for (const v of h.values) if (valueMatches(v, value)) return true;
  }
  return false;
}

function valueMatches(v: ValueMatcher, value: string): boolean {
  switch (v.kind) {
    case 'present':
      return true;
    case 'exact':
      return value === v.value;
    case 'prefix':
      return value.startsWith(v.value);
    case 'suffix':
      return value.endsWith(v.value);
  }
}
