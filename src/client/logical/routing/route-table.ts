/**
 * The routes of one destination, compiled once per config version into one
 * list of (match, rule) entries in Gateway API precedence order, so that a
 * request takes the first entry whose predicates all hold:
 *
 *   1. path: Exact, then RegularExpression, then PathPrefix (Exact before
 *      Prefix is the Gateway API's rule; where regexes go is left to
 *      implementations, and we follow Envoy Gateway),
 *   2. longer path value first,
 *   3. a method match before none,
 *   4. more header matches first, 5. more query matches first,
 *   6. then by route `namespace/name` (we have no creation time), then the
 *      rule's and the match's order in the route.
 *
 * A request that matches no entry goes to the whole service, as if no route
 * existed (see docs/architecture.md for why this departs from the Gateway
 * API's 404).
 */
import { defaultRuleName, type RouteResource, type RouteRule } from '../../../config/resources.js';
import type { RoutePolicy } from '../policy.js';
import type { MeshCall } from '../../call/mesh-call.js';
import type { Backend, PolicedService } from './backend.js';
import { compileMatch, type CompiledMatch, type Predicate } from './matchers.js';
import type { MirrorSender } from './mirror.js';
import type { RateLimitBuckets } from './rate-limit.js';
import type { RouteCounter } from '../../../telemetry/traffic.js';
import { CompiledRule } from './rule.js';

/**
 * A parent that is not a destination of its own: a Gateway. Its routes name every backend explicitly
 * (there is no "whole service" to fall back to), so it needs only its namespace, for backendRefs without one.
 */
export interface RouteParent {
  readonly namespace: string;
  readonly name: string;
}

export interface CompileContext {
  /** What the routes apply to: a destination (a Service parent), or a Gateway. */
  parent: PolicedService | RouteParent;
  /** Another service named by a backendRef (a split across services). */
  destination(namespace: string, name: string): PolicedService;
  mirror: MirrorSender;
  /** A rule that cannot be compiled is left out, and reported here. */
  warn(message: string): void;
  /**
   * The timeouts and retry policy of calls `rule` sends to `backend`: a Service parent merges the rule's
   * with its own spec (undefined when the rule sets neither: the destination's own apply); a Gateway, having
   * none, with the backend's (mesh/edge-routes.ts).
   */
  policy?(rule: RouteRule, backend: PolicedService): RoutePolicy | undefined;
  /** Where LocalRateLimit buckets outlive a compilation (a gateway's); absent: a new bucket per compilation. */
  buckets?: RateLimitBuckets;
}

export interface RouteEntry {
  rule: CompiledRule;
  prefix: string | undefined;
  predicates: Predicate[];
}

interface Sortable extends CompiledMatch {
  rule: CompiledRule;
  routeKey: string;
  ruleIndex: number;
  matchIndex: number;
}

export class RouteTable {
  readonly entries: readonly RouteEntry[];
  /** The routes this table was compiled from, for diagnostics. */
  readonly routes: readonly RouteResource[];
  /** Each compiled rule once (a rule with several matches has several entries): for the edge stats. */
  readonly rules: readonly CompiledRule[];
  /**
   * Where telemetry counts a call of a Gateway parent that no rule of its tables matches (its `[default]`),
   * set by the edge stats as for a rule's `stats`; undefined for a Service parent (such a call is the
   * destination's own, counted there).
   */
  unmatched: RouteCounter | undefined = undefined;
  /** The first entry when it matches every call (a catch-all): match() returns it without a walk. */
  readonly #always: RouteEntry | undefined;

  constructor(entries: RouteEntry[], routes: readonly RouteResource[]) {
    this.entries = entries;
    this.routes = routes;
    this.rules = [...new Set(entries.map((e) => e.rule))];
    this.#always = entries[0] !== undefined && entries[0].predicates.length === 0 ? entries[0] : undefined;
  }

  match(call: MeshCall): RouteEntry | undefined {
    // A catch-all rule first (a route with a single rule and no matches): nothing to evaluate.
    if (this.#always !== undefined) return this.#always;
    const entries = this.entries;
    outer: for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const ps = e.predicates;
      for (let k = 0; k < ps.length; k++) if (!ps[k]!(call)) continue outer;
      return e;
    }
    return undefined;
  }
}

export function compileRoutes(routes: readonly RouteResource[], ctx: CompileContext): RouteTable {
  const sortable: Sortable[] = [];
  const p = ctx.parent;
  // What each rule is a rule of, in its messages (never a gateway call's carrier destination).
  const parent = 'endpoints' in p ? `service ${p.name}` : `gateway ${p.namespace}/${p.name}`;
  for (const route of routes) {
    const ns = route.metadata.namespace;
    const routeKey = `${ns}/${route.metadata.name}`;
    route.spec.rules.forEach((rule, ruleIndex) => {
      const name = rule.name ?? defaultRuleName(route.metadata.name, ruleIndex);
      let compiled: CompiledRule;
      let matches: CompiledMatch[];
      try {
        const backends = rule.backendRefs.map((ref) => ({ backend: backendOf(ctx, ns, ref, rule), weight: ref.weight }));
        const mirrors = (rule.filters ?? []).flatMap((f) => (f.type === 'RequestMirror' ? [backendOf(ctx, ns, f.requestMirror.backendRef, undefined)] : []));
        compiled = new CompiledRule(routeKey, name, parent, backends, rule.filters ?? [], mirrors, ctx.mirror, ctx.buckets);
        matches = rule.matches.map(compileMatch);
      } catch (err) {
        ctx.warn(`hyphae: route ${routeKey} rule ${ruleIndex} is left out: ${(err as Error).message}`);
        return;
      }
      matches.forEach((m, matchIndex) => sortable.push({ ...m, rule: compiled, routeKey, ruleIndex, matchIndex }));
    });
  }
  sortable.sort(byPrecedence);
  return new RouteTable(
    sortable.map((s) => ({ rule: s.rule, prefix: s.prefix, predicates: s.predicates })),
    routes,
  );
}

function byPrecedence(a: Sortable, b: Sortable): number {
  return (
    b.pathRank - a.pathRank ||
    b.pathLength - a.pathLength ||
    Number(b.hasMethod) - Number(a.hasMethod) ||
    b.headerCount - a.headerCount ||
    b.queryCount - a.queryCount ||
    (a.routeKey < b.routeKey ? -1 : a.routeKey > b.routeKey ? 1 : 0) ||
    a.ruleIndex - b.ruleIndex ||
    a.matchIndex - b.matchIndex
  );
}

/** `rule`: whose timeouts and retries apply to calls sent to the backend; undefined for a mirror (its copies have none of their own). */
function backendOf(
  ctx: CompileContext,
  routeNamespace: string,
  ref: { name: string; namespace?: string | undefined; subset?: string | undefined; cluster?: string | undefined },
  rule: RouteRule | undefined,
): Backend {
  const namespace = ref.namespace ?? routeNamespace;
  const parent = ctx.parent;
  const destination = 'endpoints' in parent && namespace === parent.namespace && ref.name === parent.name ? parent : ctx.destination(namespace, ref.name);
  const subset = destination.endpoints.view(ref.subset, ref.cluster);
  const service = namespace === parent.namespace ? ref.name : `${namespace}/${ref.name}`;
  const label = ref.subset === undefined ? service : `${service}/${ref.subset}`;
  return {
    destination,
    subset,
    label: ref.cluster === undefined ? label : `${label}@${ref.cluster}`,
    service: destination.policy,
    policy: rule === undefined ? undefined : ctx.policy?.(rule, destination),
    sentTo: undefined,
  };
}
