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
import { systemClock, type Clock, type Timer } from '../core/clock.js';

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
 *
 * On the system clock a call's timer is not a Node timer of its own: it is an
 * entry in a shared list of entries armed for the same number of milliseconds
 * (see TimerList below), so arming and clearing cost a few field writes and
 * no allocation. On any other clock (tests' fake clocks) it is that clock's
 * setTimeout, as before.
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
  #fire: (() => void) | undefined;
  #cleared = false;
  // ---- an entry of a shared TimerList (system clock only); managed by TimerList
  /** @internal */ _list: TimerList | undefined = undefined;
  /** @internal */ _due = 0;
  /** @internal */ _prev: CallDeadline | undefined = undefined;
  /** @internal */ _next: CallDeadline | undefined = undefined;

  /** `now`: the clock's time, when the caller just read it (saves a read). */
  constructor(clock: Clock, at: number, perTryMs: number, target: DeadlineTarget, now: number = clock.now()) {
    this.#clock = clock;
    this.at = at;
    this.perTryMs = perTryMs > 0 ? perTryMs : 0;
    this.#target = target;
    // Armed at once, so that waits before the first try (discovery, the limit queue) are bounded too;
    // with a per-try timeout, for the first try's deadline already: the try that starts right after
    // finds the timer where it wants it, and the call costs one timer, not two.
    const first = this.perTryMs > 0 ? Math.min(at, now + this.perTryMs) : at;
    if (first !== Infinity) this.#arm(first, now);
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
      if (this.#tryAt < this.#armedAt) this.#arm(this.#tryAt, now);
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
    this.#disarm();
    this.#armedAt = Infinity;
  }

  #disarm(): void {
    if (this._list !== undefined) this._list.remove(this);
    else if (this.#timer !== undefined) {
      this.#timer.clear();
      this.#timer = undefined;
    }
  }

  #arm(at: number, now: number): void {
    if (this.#cleared) return;
    this.#disarm();
    this.#armedAt = at;
    const ms = Math.max(0, at - now);
    if (this.#clock === systemClock) {
      TimerList.add(this, ms, now);
      return;
    }
    this.#timer = this.#clock.setTimeout((this.#fire ??= () => this.onFire()), ms);
  }

  /** @internal The timer (or the shared list) says the armed instant has come. */
  onFire(): void {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    if (this.#cleared) return;
    const now = this.#clock.now();
    const early = now + EARLY_MS;
    if (early >= this.at) {
      this.#cleared = true;
      this.#target.onCallDeadline();
      return;
    }
    if (early >= this.#tryAt) {
      this.#tryAt = Infinity;
      this.#target.onTryDeadline();
    }
    const next = Math.min(this.at, this.#tryAt);
    if (next !== Infinity) this.#arm(next, now);
  }
}

/**
 * The call timers of the system clock that were armed for the same whole
 * number of milliseconds, in one doubly linked list — Node's own design for
 * its timers (lib/internal/timers.js), without a Timeout object, its async
 * id and two closures per call. Entries of one list are due in the order they
 * were added (same duration, monotonic clock), so the list needs one Node
 * timer, armed for its head; a call that ends unlinks its entry in O(1). When
 * the timer fires, every entry due is taken off and told (it fires for its
 * call, or re-arms itself for a later instant); the timer is then re-armed for
 * the new head. An emptied list drops its timer and itself, so an idle
 * process holds no timer (and a call's timer keeps the process alive, as a
 * Node timer of its own would).
 */
class TimerList {
  static readonly #lists = new Map<number, TimerList>();
  readonly #ms: number;
  #head: CallDeadline | undefined = undefined;
  #tail: CallDeadline | undefined = undefined;
  #timer: NodeJS.Timeout | undefined = undefined;
  readonly #onTimeout = (): void => this.#run();

  private constructor(ms: number) {
    this.#ms = ms;
  }

  static add(d: CallDeadline, ms: number, now: number): void {
    // Rounded up: an entry never fires before its instant (it would only re-arm).
    const whole = ms <= 1 ? 1 : Math.ceil(ms);
    let list = TimerList.#lists.get(whole);
    if (list === undefined) TimerList.#lists.set(whole, (list = new TimerList(whole)));
    d._list = list;
    d._due = now + whole;
    d._next = undefined;
    d._prev = list.#tail;
    if (list.#tail === undefined) list.#head = d;
    else list.#tail._next = d;
    list.#tail = d;
    list.#timer ??= setTimeout(list.#onTimeout, whole);
  }

  remove(d: CallDeadline): void {
    const prev = d._prev;
    const next = d._next;
    if (prev === undefined) this.#head = next;
    else prev._next = next;
    if (next === undefined) this.#tail = prev;
    else next._prev = prev;
    d._list = d._prev = d._next = undefined;
    if (this.#head === undefined) this.#drop();
  }

  #drop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (TimerList.#lists.get(this.#ms) === this) TimerList.#lists.delete(this.#ms);
  }

  #run(): void {
    this.#timer = undefined;
    const now = performance.now() + EARLY_MS;
    let d = this.#head;
    while (d !== undefined && d._due <= now) {
      this.remove(d);
      // May arm d again (in this list or another one): it is unlinked already.
      d.onFire();
      d = this.#head;
    }
    // An entry that re-armed itself in this list may have armed the timer for its own duration: re-arm for the head.
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#head !== undefined) this.#timer = setTimeout(this.#onTimeout, Math.max(1, Math.ceil(this.#head._due - performance.now())));
  }
}
