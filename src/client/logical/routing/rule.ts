/**
 * One route rule, compiled: its weighted backends and its filters, ready to
 * apply to a call. Built once per config version by route-table.ts.
 */
import { ErrorCode, isMeshError, MeshError } from '../../../core/errors.js';
import type { RouteFilter } from '../../../config/resources.js';
import type { Attempt } from '../../endpoint/attempt.js';
import type { MeshCall } from '../../call/mesh-call.js';
import type { Handler } from '../../../core/filter.js';
import type { Backend } from './backend.js';
import { injectedAbort, injectedDelay } from './fault.js';
import type { MirrorSender } from './mirror.js';
import type { RouteCounter, RouteStatsSlot } from '../../../telemetry/traffic.js';
import { rateLimited, TokenBucket, type RateLimitBuckets } from './rate-limit.js';

export interface WeightedBackend {
  backend: Backend;
  weight: number;
}

type HeaderOp = { op: 'set' | 'add'; name: string; value: string } | { op: 'remove'; name: string };

type Rewrite = { type: 'ReplacePrefixMatch'; value: string } | { type: 'ReplaceFullPath'; value: string };

interface Fault {
  delay: { percent: number; ms: number } | undefined;
  abort: { percent: number; status: number } | undefined;
}

export class CompiledRule implements RouteStatsSlot {
  readonly name: string;
  /** `namespace/name` of the Route the rule belongs to. */
  readonly route: string;
  /**
   * What the rule is a rule of, for messages: `service api` or `gateway default/edge`. Not the destination a
   * call was made to, which for a gateway is only the carrier of its calls.
   */
  readonly parent: string;
  /** Where telemetry counts the calls this rule steers, set by the edge stats once the routes are compiled. */
  stats: RouteCounter | undefined = undefined;
  /** Backends with weight > 0, and their cumulative weights. */
  readonly #backends: Backend[];
  readonly #cumulative: number[];
  readonly #total: number;
  readonly #headerOps: HeaderOp[];
  readonly #rewrite: Rewrite | undefined;
  readonly #fault: Fault | undefined;
  readonly #mirrors: { backend: Backend; percent: number }[];
  readonly #mirror: MirrorSender;
  /** LocalRateLimit (gateways only: validation refuses it on a route with a Service parent). */
  readonly #limit: TokenBucket | undefined;

  constructor(route: string, name: string, parent: string, backends: WeightedBackend[], filters: RouteFilter[], mirrorBackends: Backend[], mirror: MirrorSender, buckets?: RateLimitBuckets) {
    this.name = name;
    this.route = route;
    this.parent = parent;
    const live = backends.filter((b) => b.weight > 0);
    this.#backends = live.map((b) => b.backend);
    let sum = 0;
    this.#cumulative = live.map((b) => (sum += b.weight));
    this.#total = sum;
    this.#mirror = mirror;
    this.#headerOps = [];
    this.#mirrors = [];
    let fault: Fault | undefined;
    let limit: TokenBucket | undefined;
    let m = 0;
    for (const f of filters) {
      switch (f.type) {
        case 'RequestHeaderModifier': {
          const mod = f.requestHeaderModifier;
          // Gateway API order within one filter: set, add, remove.
          for (const h of mod.set ?? []) this.#headerOps.push({ op: 'set', name: h.name, value: h.value });
          for (const h of mod.add ?? []) this.#headerOps.push({ op: 'add', name: h.name, value: h.value });
          for (const name of mod.remove ?? []) this.#headerOps.push({ op: 'remove', name });
          break;
        }
        case 'URLRewrite': {
          const p = f.urlRewrite.path;
          this.#rewrite = p.type === 'ReplacePrefixMatch' ? { type: p.type, value: p.replacePrefixMatch } : { type: p.type, value: p.replaceFullPath };
          break;
        }
        case 'RequestMirror':
          this.#mirrors.push({ backend: mirrorBackends[m++]!, percent: f.requestMirror.percent });
          break;
        case 'Fault':
          fault = {
            delay: f.fault.delay && { percent: f.fault.delay.percent, ms: f.fault.delay.fixedDelay },
            abort: f.fault.abort && { percent: f.fault.abort.percent, status: f.fault.abort.httpStatus },
          };
          break;
        case 'LocalRateLimit':
          limit = buckets?.get(`${route} ${name}`, f.localRateLimit.requests, f.localRateLimit.unit) ?? new TokenBucket(f.localRateLimit.requests, f.localRateLimit.unit);
          break;
      }
    }
    this.#fault = fault;
    this.#limit = limit;
  }

  /**
   * Apply the rule to a call and send it on: modify, fault, mirror, choose
   * the backend. `prefix` is the path prefix the call matched (for
   * ReplacePrefixMatch).
   */
  handle(call: MeshCall, prefix: string | undefined, next: Handler<MeshCall, Attempt>): Promise<Attempt> {
    const logical = call.logical;
    logical.route = this.name;
    logical.routeStats = this.stats;
    // First: a request over the limit costs nothing further, and nothing of it is sent.
    if (this.#limit !== undefined && !this.#limit.take()) return Promise.reject(rateLimited(this.name, this.#limit));
    if (this.#headerOps.length > 0 || this.#rewrite !== undefined) this.#modify(call, prefix);
    const fault = this.#fault;
    if (fault !== undefined) {
      if (fault.delay !== undefined && chance(fault.delay.percent)) {
        return injectedDelay(call, fault.delay.ms).then(() => this.#afterDelay(call, next));
      }
      return this.#afterDelay(call, next);
    }
    return this.#send(call, next);
  }

  #afterDelay(call: MeshCall, next: Handler<MeshCall, Attempt>): Promise<Attempt> {
    const abort = this.#fault!.abort;
    if (abort !== undefined && chance(abort.percent)) return injectedAbort(call, abort.status);
    return this.#send(call, next);
  }

  #send(call: MeshCall, next: Handler<MeshCall, Attempt>): Promise<Attempt> {
    for (const m of this.#mirrors) if (chance(m.percent)) this.#mirror.send(call, m.backend);
    const backend = this.#pick();
    if (backend === undefined) {
      return Promise.reject(
        new MeshError(ErrorCode.NO_ENDPOINTS, `route rule ${this.name} of ${this.parent} has no backend with a weight above 0`, {
          rejected: true,
          details: { parent: this.parent, route: this.name },
        }),
      );
    }
    const logical = call.logical;
    logical.backend = backend;
    // The rule's timeouts and retries as they apply to this backend (a Gateway's rule takes the backend's spec).
    logical.routePolicy = backend.policy;
    // From here the call is the backend's in its telemetry too: named after it, in flight there.
    call.telemetry?.routed(backend);
    const owner = backend.destination;
    if (owner.isReady) return next(call);
    // The layers below read the backend's Service spec (its limit, retry budget, timeouts): it is known once
    // discovery has answered about that service, so wait for it here, as the route layer waits for the
    // destination's (bounded by discovery's timeout and the call's abort).
    return owner.whenReady(call).then(
      () => next(call),
      (err: unknown) => Promise.reject(unknownBackend(call, this.parent, err)),
    );
  }

  #pick(): Backend | undefined {
    const n = this.#backends.length;
    if (n <= 1) return this.#backends[0];
    const r = Math.random() * this.#total;
    const c = this.#cumulative;
    for (let i = 0; i < n - 1; i++) if (r < c[i]!) return this.#backends[i];
    return this.#backends[n - 1];
  }

  #modify(call: MeshCall, prefix: string | undefined): void {
    if (this.#headerOps.length > 0) {
      const h = call.headers;
      for (const op of this.#headerOps) {
        if (op.op === 'set') h.set(op.name, op.value);
        else if (op.op === 'add') h.add(op.name, op.value);
        else h.remove(op.name);
      }
    }
    call.rewrite(this.#rewrite === undefined ? undefined : rewritePath(call.opts.path, call.pathname, this.#rewrite, prefix));
  }
}

/** true with probability percent/100 (0 and 100 cost no random number). */
function chance(percent: number): boolean {
  return percent >= 100 || (percent > 0 && Math.random() * 100 < percent);
}

/** The new path (query string kept) under a URLRewrite, with the Gateway API's slash rules. */
export function rewritePath(path: string, pathname: string, rewrite: Rewrite, prefix: string | undefined): string {
  const query = path.slice(pathname.length);
  if (rewrite.type === 'ReplaceFullPath') return rewrite.value + query;
  const rest = prefix === undefined || prefix === '/' ? pathname : pathname.slice(prefix.length);
  const replacement = rewrite.value;
  let out: string;
  if (rest === '' || rest === '/') out = rest === '/' && !replacement.endsWith('/') ? `${replacement}/` : replacement;
  else if (replacement.endsWith('/')) out = replacement + (rest.startsWith('/') ? rest.slice(1) : rest);
  else out = replacement + (rest.startsWith('/') ? rest : `/${rest}`);
  return out + query;
}

/**
 * A backend in a service that does not exist is the route's problem, not an unknown host (which
 * `unknownServices: 'passthrough'` would send to DNS).
 */
function unknownBackend(call: MeshCall, parent: string, err: unknown): unknown {
  if (!isMeshError(err, ErrorCode.SERVICE_NOT_FOUND)) return err;
  const b = call.logical.backend!;
  const route = call.logical.route;
  return new MeshError(ErrorCode.NO_ENDPOINTS, `route rule ${route ?? '?'} of ${parent} sends to ${b.label}, which the mesh does not know`, {
    rejected: true,
    cause: err,
    details: { parent, backend: b.label, route },
  });
}
