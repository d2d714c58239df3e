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
 */
import type { AuthorizationPolicyResource } from '../../config/resources.js';
import { matchPrincipal } from '../../tls/spiffe.js';
import type { PeerIdentity } from '../peer.js';
import { normalizeTarget } from './normalize-path.js';

/** Why a request was denied: shared per policy, so a denial allocates nothing. */
export interface Denial {
  /** `namespace/name` of the DENY policy that matched, or undefined for "no ALLOW policy matched". */
  readonly policy: string | undefined;
  /** Short, safe to send to the caller: it names no rule and no policy. */
  readonly reason: string;
}

export const DEFAULT_DENY: Denial = Object.freeze({ policy: undefined, reason: 'no ALLOW policy matches this request' });

interface PrincipalMatcher {
  exact: Set<string>;
  /** `*` and `prefix*` patterns, checked with matchPrincipal. */
  patterns: string[];
}

interface PathMatcher {
  exact: boolean;
  /** For a prefix, without its trailing slash (`/` becomes `` and matches every path). */
  value: string;
}

interface HeaderMatcher {
  name: string;
  values: ValueMatcher[];
}

type ValueMatcher = { kind: 'exact' | 'prefix' | 'suffix'; value: string } | { kind: 'present' };

interface CompiledRule {
  principals: PrincipalMatcher | undefined;
  namespaces: Set<string> | undefined;
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

/** Compile a workload's policies. Throws only on a path the schema should have refused (the caller keeps the last good set). */
export function compilePolicies(policies: readonly AuthorizationPolicyResource[]): PolicySet {
  if (policies.length === 0) return ALLOW_ALL;
  const deny: CompiledPolicy[] = [];
  const allow: CompiledPolicy[] = [];
  for (const p of policies) {
    const id = `${p.metadata.namespace}/${p.metadata.name}`;
    const denial: Denial = Object.freeze({ policy: p.spec.action === 'DENY' ? id : undefined, reason: 'denied by an authorization policy' });
    (p.spec.action === 'DENY' ? deny : allow).push({ denial, rules: p.spec.rules.map(compileRule) });
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

function compileRule(rule: Rule): CompiledRule {
  const principals = rule.from?.principals;
  return {
    principals: principals && {
      exact: new Set(principals.filter((p) => !p.endsWith('*'))),
      patterns: principals.filter((p) => p.endsWith('*')),
    },
    namespaces: rule.from?.namespaces && new Set(rule.from.namespaces),
    paths: rule.to?.paths?.map(compilePath),
    methods: rule.to?.methods && new Set<string>(rule.to.methods),
    headers: rule.when?.headers.map((h) => ({ name: h.name, values: h.values.map(compileValue) })),
  };
}

function compilePath(p: { type: 'Exact' | 'PathPrefix'; value: string }): PathMatcher {
  // Written the way requests are normalized, so `/%7Euser` in a policy matches a request for `/~user`.
  const normal = normalizeTarget(p.value);
  if (typeof normal !== 'string' || normal.includes('?')) throw new Error(`authorization path ${JSON.stringify(p.value)} is not a normalized path`);
  if (p.type === 'Exact') return { exact: true, value: normal };
  // Gateway API PathPrefix: a trailing `/` is ignored, and the match is element by element.
  return { exact: false, value: normal.endsWith('/') ? normal.slice(0, -1) : normal };
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
  if (r.methods && !r.methods.has(method)) return false;
  if (r.paths && !pathMatches(r.paths, path)) return false;
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
    if (p.exact ? path === p.value : path.startsWith(p.value) && (path.length === p.value.length || path.charCodeAt(p.value.length) === 0x2f)) return true;
  }
  return false;
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
