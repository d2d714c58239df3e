/**
 * Deadlines: one absolute deadline per call, enforced by ONE timer per call
 * (DESIGN hot-path rule: no timer per layer, no cockatiel timeout()).
 *
 * Times are on the mesh clock (`Clock.now()`, performance.now() in production):
 * monotonic, so a wall-clock jump (NTP) never fires or delays a deadline.
 *
 * Across processes the deadline travels as the REMAINING budget in
 * milliseconds (`x-hyphae-deadline-ms: 180`), not as an absolute instant:
 * hosts' clocks are not synchronized, and a few milliseconds of skew would
 * otherwise shrink or stretch every budget (gRPC's `grpc-timeout` is relative
 * for the same reason). The cost is that the network transit time is not
 * subtracted, so a downstream hop may believe it has up to one one-way latency
 * more than it really has; we floor the value so that rounding never adds more.
 */
import type { Clock, Timer } from '../core/clock.js';

/** Request header carrying the caller's remaining budget, in whole milliseconds. */
export const DEADLINE_HEADER = 'x-hyphae-deadline-ms';

/** A propagated budget longer than this is clamped (one hour); it keeps a hostile value from meaning "forever". */
export const MAX_PROPAGATED_MS = 3_600_000;

/** Timers may fire up to a millisecond before performance.now() says the instant has come (libuv rounds to ms). */
const EARLY_MS = 1;

/**
 * The remaining budget a request header announces, in ms, or undefined when the
 * header is absent or malformed (a malformed value is ignored, not trusted).
 * Only plain decimal digits are accepted: no sign, exponent, fraction or spaces inside.
 *
 * A repeated header (Node joins unknown ones as "100, 200"; or an array) counts
 * by its smallest valid value, as gRPC does with a repeated grpc-timeout: rejecting
 * the whole line would drop the deadline altogether, and the smallest one is
 * the only choice that never gives a call more time than some hop allowed.
 */
export function parseDeadlineHeader(value: string | readonly string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value.indexOf(',') < 0 ? parseDeadlineValue(value) : smallest(value.split(','));
  return smallest(value);
}

function smallest(values: readonly string[]): number | undefined {
  let min: number | undefined;
  for (const v of values) {
    const ms = parseDeadlineHeader(v);
    if (ms !== undefined && (min === undefined || ms < min)) min = ms;
  }
  return min;
}

function parseDeadlineValue(v: string): number | undefined {
  const s = v.trim();
  if (s.length === 0 || s.length > 10) return undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return Math.min(Number(s), MAX_PROPAGATED_MS);
}

/** The header value for a remaining budget: whole ms, floored, never negative. */
export function formatDeadlineHeader(remainingMs: number): string {
  return String(remainingMs > 0 ? Math.floor(Math.min(remainingMs, MAX_PROPAGATED_MS)) : 0);
}

/** What a call's timer tells when it fires. */
export interface DeadlineTarget {
  /** The call's deadline has passed: stop the whole call. */
  onCallDeadline(): void;
  /** The running try's timeout has passed (the call still has time): stop this try only. */
  onTryDeadline(): void;
}

/**
 * The one timer of one call. It is armed for the earliest of the call's
 * deadline and the running try's deadline. When a try ends early the timer is
 * left as it is (no clear/re-arm churn per attempt): if it fires for a try that
 * is over, it re-arms itself for what remains. Cleared when the call ends.
 */
export class CallDeadline {
  /** Absolute deadline of the whole call (clock ms); Infinity when only tries are bounded. */
  readonly at: number;
  /** Per-try timeout in ms; 0 when tries are not bounded on their own. */
  readonly perTryMs: number;
  #tryAt = Infinity;
  #armedAt = Infinity;
  #timer: Timer | undefined;
  #clock: Clock;
  #target: DeadlineTarget;
  #fire = () => this.#onFire();
  #cleared = false;

  constructor(clock: Clock, at: number, perTryMs: number, target: DeadlineTarget) {
    this.#clock = clock;
    this.at = at;
    this.perTryMs = perTryMs > 0 ? perTryMs : 0;
    this.#target = target;
    // Armed at once, so that waits before the first try (discovery, the limit queue) are bounded too;
    // with a per-try timeout, for the first try's deadline already: the try that starts right after
    // finds the timer where it wants it, and the call costs one timer, not two.
    const first = this.perTryMs > 0 ? Math.min(at, clock.now() + this.perTryMs) : at;
    if (first !== Infinity) this.#arm(first);
  }

  /** Milliseconds left for the whole call (Infinity without a call deadline). */
  remaining(): number {
    return this.at === Infinity ? Infinity : this.at - this.#clock.now();
  }

  /** The deadline of the try under way (the earlier of its timeout and the call's), or Infinity. */
  get tryAt(): number {
    return this.#tryAt === Infinity ? this.at : Math.min(this.#tryAt, this.at);
  }

  /** A try starts: bound it by the per-try timeout. Returns the ms this try may take (Infinity if unbounded). */
  startTry(): number {
    const now = this.#clock.now();
    if (this.perTryMs > 0) {
      this.#tryAt = now + this.perTryMs;
      // Armed a little earlier (at construction, or for a previous try) is fine: it re-arms when it fires.
      if (this.#tryAt < this.#armedAt) this.#arm(this.#tryAt);
    }
    return this.tryAt - now;
  }

  /** The try got its answer (or failed): its timeout no longer applies. */
  endTry(): void {
    this.#tryAt = Infinity;
  }

  /** The call is over: nothing fires any more. */
  clear(): void {
    this.#cleared = true;
    this.#timer?.clear();
    this.#timer = undefined;
    this.#armedAt = Infinity;
  }

  #arm(at: number): void {
    if (this.#cleared) return;
    this.#timer?.clear();
    this.#armedAt = at;
    this.#timer = this.#clock.setTimeout(this.#fire, Math.max(0, at - this.#clock.now()));
  }

  #onFire(): void {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    if (this.#cleared) return;
    const now = this.#clock.now() + EARLY_MS;
    if (now >= this.at) {
      this.#cleared = true;
      this.#target.onCallDeadline();
      return;
    }
    if (now >= this.#tryAt) {
      this.#tryAt = Infinity;
      this.#target.onTryDeadline();
    }
    const next = Math.min(this.at, this.#tryAt);
    if (next !== Infinity) this.#arm(next);
  }
}
