/**
 * A wrapped server's authorization state: the policy set in force (recompiled
 * on every change from the PolicySource), its counters, and the requests held
 * while the first policies are on their way.
 *
 * Until the source has answered once, nothing is known: letting requests
 * through would serve a freshly started instance without its DENY policies,
 * so they wait (at most `waitMs`, then 503). The wait is normally a few ms:
 * the mesh subscribes when the server is wrapped, before it even listens.
 * Without a source (no control plane to ask), there are no policies.
 */
import type http from 'node:http';
import { ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { getPeer } from '../peer.js';
import type { PolicySource } from '../policy-source.js';
import { DEFAULT_SEMICOLONS, pathOf, type SemicolonMode } from './normalize-path.js';
import { ALLOW_ALL, compilePolicies, type Denial, type PolicySet } from './policy-set.js';
import { refuse, type RefuseTarget } from './respond.js';

type Next = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Counters, read by telemetry (`wrappedState(server).authz`). They only grow, except `policies`. */
export interface AuthzStats {
  /** Requests checked against at least one policy. */
  checked: number;
  /** Requests answered 403. */
  denied: number;
  /** 403s by the DENY policy that matched (`namespace/name`), or `(no ALLOW match)` for the default deny. */
  deniedBy: Map<string, number>;
  /** Requests answered 400 because their target was refused by path normalization. */
  badTargets: number;
  /** Requests answered 503 because the policies were not known within the wait. */
  notReady: number;
  /** Policy sets compiled so far (one per change). */
  updates: number;
  /** Policies in force now. */
  policies: number;
}

export const DEFAULT_DENY_KEY = '(no ALLOW match)';
/** decide(): the policies are not known yet. */
export const NOT_READY = Symbol('authorization policies not known yet');
/** How long a request waits for the first policies before a 503. */
export const POLICY_WAIT_MS = 5_000;
/** Requests held at once while waiting; more are answered 503 at once (no unbounded queue). */
const MAX_HELD = 1_000;

interface Held {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  next: Next;
  until: number;
}

export class InboundAuthorization {
  readonly stats: AuthzStats = { checked: 0, denied: 0, deniedBy: new Map(), badTargets: 0, notReady: 0, updates: 0, policies: 0 };
  readonly logger: Logger;
  /** How this server's request paths treat `;` (the normalization layer reads it; policies are compiled to match). */
  readonly semicolons: SemicolonMode;
  /** Told of every 403 (telemetry counts them by policy). */
  onDenied: ((denial: Denial) => void) | undefined = undefined;
  #set: PolicySet | undefined;
  #held: Held[] = [];
  #timer: NodeJS.Timeout | undefined;
  #dispose: (() => void) | undefined;
  #source: PolicySource | undefined;
  #waitMs: number;

  constructor(source: PolicySource | undefined, logger: Logger, waitMs = POLICY_WAIT_MS, semicolons: SemicolonMode = DEFAULT_SEMICOLONS) {
    this.logger = logger;
    this.semicolons = semicolons;
    this.#waitMs = waitMs;
    this.#source = source;
    if (!source) this.#set = ALLOW_ALL;
    // Subscribed last: a source may answer from inside subscribe().
    else this.open();
  }

  /**
   * Follow the source's policies (again, after close(): a server that listens again). The set in force
   * stays until the source answers, so a re-listened server does not hold requests for nothing.
   */
  open(): void {
    if (this.#source && !this.#dispose) this.#dispose = this.#source.subscribe((policies) => this.update(policies));
  }

  /** A new list of policies: compiled once here, in force for the next request. */
  update(policies: Parameters<typeof compilePolicies>[0]): void {
    let set: PolicySet;
    try {
      set = compilePolicies(policies, this.semicolons);
    } catch (err) {
      // The schema refuses such paths, so this is a bug or a skewed control plane: keep the last good set.
      // Before the first good set, requests keep waiting (and then get 503): failing closed.
      this.logger.error('hyphae: authorization policies could not be compiled; the previous ones stay in force', { error: String(err) });
      return;
    }
    const first = this.#set === undefined;
    this.#set = set;
    this.stats.updates++;
    this.stats.policies = set.size;
    this.logger.debug('hyphae: authorization policies in force', { policies: policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`) });
    if (first) this.#release();
  }

  /** The authorization layer: `req.url` is already normalized. */
  check(req: http.IncomingMessage, res: http.ServerResponse, next: Next): void {
    const decision = this.decide(req);
    if (decision === undefined) return next(req, res);
    if (decision === NOT_READY) return this.#hold(req, res, next);
    this.deny(req, res, decision);
  }

  /**
   * undefined to let the request through, NOT_READY while the policies are
   * unknown, else the denial. For requests that cannot wait (Upgrade, CONNECT),
   * and under check().
   */
  decide(req: http.IncomingMessage): Denial | typeof NOT_READY | undefined {
    const set = this.#set;
    if (set === undefined) return NOT_READY;
    if (set.size === 0) return undefined;
    this.stats.checked++;
    return set.check(req.method!, pathOf(req.url!), getPeer(req), req.rawHeaders);
  }

  deny(req: http.IncomingMessage, to: RefuseTarget, denial: Denial): void {
    const key = denial.policy ?? DEFAULT_DENY_KEY;
    this.stats.denied++;
    this.stats.deniedBy.set(key, (this.stats.deniedBy.get(key) ?? 0) + 1);
    this.onDenied?.(denial);
    this.logger.info('hyphae: request denied by authorization', {
      policy: key,
      method: req.method,
      path: clip(pathOf(req.url!)),
      peer: getPeer(req)?.id ?? null,
    });
    refuse(to, 403, ErrorCode.AUTHZ_DENIED, denial.reason);
  }

  /** A target the normalization layer refused (counted and logged here, with the rest of the refusals). */
  badTarget(req: http.IncomingMessage, to: RefuseTarget, reason: string): void {
    this.stats.badTargets++;
    this.logger.info('hyphae: request target refused', { reason, method: req.method, target: clip(req.url ?? '') });
    // A target built to confuse parsers says little good about the rest of the connection.
    refuse(to, 400, ErrorCode.BAD_REQUEST_TARGET, reason, true);
  }

  notReady(to: RefuseTarget): void {
    this.stats.notReady++;
    refuse(to, 503, ErrorCode.AUTHZ_NOT_READY, 'authorization policies are not known yet', false, '1');
  }

  /** Stop following the source (the server closed) and answer the requests still held. */
  close(): void {
    this.#dispose?.();
    this.#dispose = undefined;
    for (const h of this.#held.splice(0)) this.notReady(h.res);
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #hold(req: http.IncomingMessage, res: http.ServerResponse, next: Next): void {
    if (this.#held.length >= MAX_HELD) return this.notReady(res);
    this.#held.push({ req, res, next, until: performance.now() + this.#waitMs });
    if (!this.#timer) this.#arm();
  }

  #arm(): void {
    const oldest = this.#held[0];
    if (!oldest) return;
    this.#timer = setTimeout(() => this.#expire(), Math.max(1, oldest.until - performance.now()));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    let i = 0;
    while (i < this.#held.length && this.#held[i]!.until <= now) this.notReady(this.#held[i++]!.res);
    this.#held.splice(0, i);
    if (i > 0) this.logger.warn('hyphae: authorization policies still unknown; requests answered 503', { requests: i, waitedMs: this.#waitMs });
    this.#arm();
  }

  #release(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const h of this.#held.splice(0)) if (!h.res.destroyed) this.check(h.req, h.res, h.next);
  }
}

function clip(s: string): string {
  return s.length > 256 ? `${s.slice(0, 256)}...` : s;
}
