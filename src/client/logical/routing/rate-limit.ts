/**
 * A rule's LocalRateLimit (issue 16): a token bucket per compiled rule, so
 * per gateway process, as Envoy's local_ratelimit. It holds `requests` tokens
 * and refills continuously at `requests` per unit (never a whole refill at an
 * interval's edge, which would let twice the limit through across it). Time
 * is the mesh clock's (performance.now()), so a wall-clock step changes nothing.
 */
import { ErrorCode, MeshError } from '../../../core/errors.js';
import { systemClock, type Clock } from '../../../core/clock.js';
import { defaultRuleName, type RouteResource } from '../../../config/resources.js';

const UNIT_MS = { Second: 1_000, Minute: 60_000, Hour: 3_600_000 } as const;

export class TokenBucket {
  readonly capacity: number;
  /** Milliseconds per token. */
  readonly #interval: number;
  #tokens: number;
  #at: number;
  readonly #clock: Clock;

  constructor(requests: number, unit: keyof typeof UNIT_MS, clock: Clock = systemClock) {
    this.capacity = requests;
    this.#interval = UNIT_MS[unit] / requests;
    this.#tokens = requests;
    this.#clock = clock;
    this.#at = clock.now();
  }

  /** Takes a token; false when none is left. */
  take(): boolean {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.capacity, this.#tokens + (now - this.#at) / this.#interval);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whole seconds until the next token (Retry-After), at least 1. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(((1 - this.#tokens) * this.#interval) / 1_000));
  }
}

/**
 * The buckets of one Gateway's routes, kept across compilations: every snapshot compiles the routes again
 * (per Host entry, on its first request), and a bucket per compilation refilled every limited rule whenever
 * any route changed, and gave a rule reached through two Host entries two buckets. A bucket lives while its
 * rule keeps its route, name and limit.
 */
export class RateLimitBuckets {
  readonly #buckets = new Map<string, TokenBucket>();

  /** The bucket of `rule` (route key and rule name) with this limit: the one it had, or a full one. */
  get(rule: string, requests: number, unit: keyof typeof UNIT_MS): TokenBucket {
    const key = bucketKey(rule, requests, unit);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) this.#buckets.set(key, (bucket = new TokenBucket(requests, unit)));
    return bucket;
  }

  /** On a new snapshot: forget the buckets of rules it no longer has (gone, renamed, or with a new limit). */
  retain(routes: readonly RouteResource[]): void {
    if (this.#buckets.size === 0) return;
    const keep = new Set<string>();
    for (const route of routes) {
      route.spec.rules.forEach((rule, i) => {
        for (const f of rule.filters ?? []) {
          if (f.type !== 'LocalRateLimit') continue;
          const name = rule.name ?? defaultRuleName(route.metadata.name, i);
          keep.add(bucketKey(`${route.metadata.namespace}/${route.metadata.name} ${name}`, f.localRateLimit.requests, f.localRateLimit.unit));
        }
      });
    }
    for (const key of this.#buckets.keys()) if (!keep.has(key)) this.#buckets.delete(key);
  }

  get size(): number {
    return this.#buckets.size;
  }
}

function bucketKey(rule: string, requests: number, unit: string): string {
  return `${rule}\n${requests}/${unit}`;
}

export function rateLimited(route: string, bucket: TokenBucket): MeshError {
  const retryAfterSeconds = bucket.retryAfterSeconds();
  return new MeshError(ErrorCode.RATE_LIMITED, `route rule ${route} allows ${bucket.capacity} requests per its LocalRateLimit unit; try again in ${retryAfterSeconds} s`, {
    rejected: true,
    details: { route, retryAfterSeconds },
  });
}
