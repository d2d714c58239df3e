/**
 * Root spans without the SDK's `startSpan` for the ones its sampler drops.
 *
 * A mesh call or request with no parent is a trace root: the SDK draws two
 * random ids, builds and sanitizes the attributes, asks its sampler, counts
 * the span, and — for 99 % of roots under a 1 % ratio sampler — returns a
 * non-recording span that only carries the ids on. That was the largest item
 * of tracing's cost per request (docs/benchmarks.md). When the SDK's tracer
 * is the common configuration — `ParentBasedSampler` around a
 * `TraceIdRatioBasedSampler`, the `RandomIdGenerator` — the mesh draws the
 * ids itself and settles the decision from the id's 32-bit words; it calls
 * `startSpan` only for a root the sampler keeps, handing the SDK the same
 * trace id, so the sampler decides on exactly the id it would have seen.
 *
 * Nothing of the sampler's algorithm is assumed: its threshold is found by
 * asking the sampler itself (a binary search over ids whose words XOR to a
 * chosen value), and the result is checked against the sampler on ids of
 * other shapes, at the threshold's two sides. Any disagreement, any other
 * sampler, id generator or tracer shape, and every root goes through
 * `startSpan` as before. The SDK's own `otel.sdk.span.started` counter does
 * not see the roots dropped here (the same is true of the unsampled children
 * the mesh does not make, mesh-telemetry.ts).
 */
import { randomFillSync } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind, trace, type Context, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';
import { unsampledContext } from './w3c.js';

/** The SDK's SamplingDecision values (sdk-trace's enum): any other answer from the sampler and there is no fast path. */
const NOT_RECORD = 0;
const RECORD_AND_SAMPLED = 2;

interface SdkSampler {
  shouldSample(context: Context, traceId: string, name: string, kind: SpanKind, attributes: object, links: unknown[]): { decision: number };
}
interface IdGenerator {
  generateTraceId(): string;
  generateSpanId(): string;
}
/** The fields of the SDK's Tracer this reads (private in its types; absent or different: no fast path). */
interface SdkTracer {
  _sampler?: unknown;
  _idGenerator?: unknown;
}

/**
 * A new root: `00-<traceId>-<spanId>-00`, the header it has when the sampler
 * drops it, and whether the sampler keeps it. The ids are read from the
 * header only when needed (traceIdOf, spanIdOf): a dropped root whose span
 * nobody reads costs no substrings.
 */
export interface RootIds {
  traceparent: string;
  sampled: boolean;
}

export const traceIdOf = (traceparent: string): string => traceparent.slice(3, 35);
export const spanIdOf = (traceparent: string): string => traceparent.slice(36, 52);

/** Roots drawn per refill. */
const POOL_ROOTS = 256;
/** Each pooled root is its unsampled traceparent, `00-<32 hex>-<16 hex>-00`. */
const TP_LENGTH = 55;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Byte -> its two hex digits as one little-endian 16-bit value (first digit in the low byte, as written). */
const HEX_PAIRS = Uint16Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >> 4]! | (HEX_DIGITS[b & 15]! << 8));

export class RootSampling {
  readonly #tracer: SdkTracer;
  /** A root is kept when the XOR of its trace id's four 32-bit words is below this (0 to 2^32). */
  readonly #bound: number;
  /** The pooled roots' traceparents as bytes: the dashes and flags stay, the ids are written per refill. */
  readonly #bytes = Buffer.from(`00-${'0'.repeat(32)}-${'0'.repeat(16)}-00`.repeat(POOL_ROOTS), 'latin1');
  readonly #bytesView = new DataView(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.byteLength);
  /** 24 random bytes per pooled root: its trace id's 16, then its span id's 8. */
  readonly #random = Buffer.alloc(24 * POOL_ROOTS);
  readonly #randomView = new DataView(this.#random.buffer, this.#random.byteOffset, this.#random.byteLength);
  readonly #ids: RootIds = { traceparent: '', sampled: false };
  /** Per pooled root, the XOR of its trace id's words. */
  readonly #xor = new Float64Array(POOL_ROOTS);
  /** The pooled roots' traceparents, one flat string. */
  #text = '';
  #next = POOL_ROOTS;
  /** The SDK made a kept root with another id than the one drawn: stop using this (see start). */
  #broken = false;

  private constructor(tracer: SdkTracer, bound: number) {
    this.#tracer = tracer;
    this.#bound = bound;
  }

  /** For the SDK tracer `real` (the global proxy's delegate), or undefined when the fast path would not be provably the same. */
  static of(real: unknown): RootSampling | undefined {
    if (typeof real !== 'object' || real === null) return undefined;
    const t = real as SdkTracer;
    const sampler = t._sampler as SdkSampler | undefined;
    const gen = t._idGenerator as IdGenerator | undefined;
    if (gen?.constructor?.name !== 'RandomIdGenerator' || typeof gen.generateTraceId !== 'function') return undefined;
    if (sampler?.constructor?.name !== 'ParentBasedSampler' || typeof sampler.shouldSample !== 'function') return undefined;
    // The root sampler must decide on the trace id alone: name, kind and attributes are not passed here.
    const ratio = /^ParentBased\{root=TraceIdRatioBased\{([0-9.e-]+)\}/.exec(String(sampler))?.[1];
    if (ratio === undefined) return undefined;
    const bound = calibrate(sampler);
    // The threshold found must keep the fraction the sampler says it keeps.
    if (bound === undefined || Math.abs(bound / 2 ** 32 - Number(ratio)) > 1e-6) return undefined;
    return new RootSampling(t, bound);
  }

  /**
   * Fresh unsampled roots for a process with no SDK at all (a request that arrives without a valid
   * traceparent, context.ts): the same pool of ids, with a decision that never keeps one.
   */
  static unsampledOnly(): RootSampling {
    return new RootSampling({}, 0);
  }

  /** True while the mesh may decide roots itself (false once the SDK disagreed). */
  get usable(): boolean {
    return !this.#broken;
  }

  /**
   * Draw a root's ids and the sampler's decision on them. The object is this
   * sampler's own, overwritten by the next draw: read it at once.
   */
  draw(): RootIds {
    if (this.#next === POOL_ROOTS) this.#refill();
    const i = this.#next++;
    const at = i * TP_LENGTH;
    const ids = this.#ids;
    // A substring of one flat string: V8 makes it a slice of it, without copying; the header stays flat
    // (one built per call is a rope that undici's header check must copy flat first).
    ids.traceparent = this.#text.slice(at, at + TP_LENGTH);
    ids.sampled = this.#xor[i]! < this.#bound;
    return ids;
  }

  /**
   * Random ids for the next POOL_ROOTS roots, from the OS's CSPRNG in one
   * call (an all-zero id gets its last bit set, as the SDK's generator does),
   * written as their traceparents into one buffer, two hex digits per table
   * lookup, and made one string: per root, a Buffer.toString('hex') of its own
   * cost more than the rest of the root together, and six Math.random() calls
   * with a digit at a time were the largest telemetry item left in a profile.
   */
  #refill(): void {
    const random = this.#random;
    randomFillSync(random);
    const rv = this.#randomView;
    const out = this.#bytesView;
    for (let i = 0; i < POOL_ROOTS; i++) {
      const src = i * 24;
      if ((rv.getUint32(src) | rv.getUint32(src + 4) | rv.getUint32(src + 8) | rv.getUint32(src + 12)) === 0) random[src + 15] = 1;
      if ((rv.getUint32(src + 16) | rv.getUint32(src + 20)) === 0) random[src + 23] = 1;
      // Byte k of the trace id is hex characters 2k and 2k+1; the span id comes after the '-'.
      const at = i * TP_LENGTH + 3;
      for (let k = 0; k < 16; k++) out.setUint16(at + 2 * k, HEX_PAIRS[random[src + k]!]!, true);
      for (let k = 0; k < 8; k++) out.setUint16(at + 33 + 2 * k, HEX_PAIRS[random[src + 16 + k]!]!, true);
      this.#xor[i] = (rv.getUint32(src) ^ rv.getUint32(src + 4) ^ rv.getUint32(src + 8) ^ rv.getUint32(src + 12)) >>> 0;
    }
    this.#text = this.#bytes.toString('latin1');
    this.#next = 0;
  }

  /**
   * A kept root: the SDK's `startSpan`, made to use the drawn ids (its id
   * generator answers them once, for this synchronous call), so its sampler
   * sees the trace id the decision was made on.
   */
  start(tracer: Tracer, name: string, options: SpanOptions, parent: Context, ids: RootIds): Span {
    const t = this.#tracer;
    const gen = t._idGenerator as IdGenerator;
    // Strings of their own: a kept span lives on in the export queue, and a slice would keep the whole pool.
    const traceId = ownString(traceIdOf(ids.traceparent));
    const spanId = ownString(spanIdOf(ids.traceparent));
    let traceGiven = false;
    let spanGiven = false;
    // One-shot: anything the span processors start inside this call gets ids of its own.
    t._idGenerator = {
      generateTraceId: () => (traceGiven ? gen.generateTraceId() : ((traceGiven = true), traceId)),
      generateSpanId: () => (spanGiven ? gen.generateSpanId() : ((spanGiven = true), spanId)),
    };
    let span: Span;
    try {
      span = tracer.startSpan(name, options, parent);
    } finally {
      t._idGenerator = gen;
    }
    // The SDK used other ids, or its sampler dropped a root this said it keeps: the premise is gone.
    if (span.spanContext().traceId !== traceId || !span.isRecording()) this.#broken = true;
    return span;
  }
}

/**
 * A root the sampler dropped: a non-recording span with its drawn ids, as the
 * SDK returns one, whose context carries its traceparent ready-made.
 */
export function droppedRootSpan(traceparent: string): Span {
  return trace.wrapSpanContext(unsampledContext(traceIdOf(traceparent), spanIdOf(traceparent), traceparent));
}

/** A copy of `s` that does not share the memory of the string it was sliced from. */
function ownString(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/**
 * The sampler's threshold, asked of the sampler: the smallest XOR of the id's
 * words it drops (2^32 when it keeps every id). Undefined when its answers do
 * not follow "kept iff XOR < threshold" on ids of several shapes.
 */
function calibrate(sampler: SdkSampler): number | undefined {
  let odd = false;
  const kept = (w: [number, number, number, number]) => {
    const hex = w.map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
    const decision = sampler.shouldSample(ROOT_CONTEXT, hex, 'calibrate', SpanKind.CLIENT, {}, []).decision;
    if (decision !== NOT_RECORD && decision !== RECORD_AND_SAMPLED) odd = true;
    return decision === RECORD_AND_SAMPLED;
  };
  // Ids 00000001 00000001 00000000 xxxxxxxx: the words XOR to x, and the id is valid for every x.
  const shaped = (x: number): [number, number, number, number] => [1, 1, 0, x];
  let lo = 0;
  let hi = 2 ** 32;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (kept(shaped(mid))) lo = mid + 1;
    else hi = mid;
  }
  const bound = lo;
  const words = new Uint32Array(3);
  for (let i = 0; i < 16; i++) {
    randomFillSync(words);
    const [a, b, c] = [words[0]!, words[1]!, words[2]!];
    // Other ids with the same XOR just inside and just outside the threshold, and a random one.
    const x = (a ^ b ^ c) >>> 0;
    if (bound > 0 && !kept([a, b, c, (x ^ (bound - 1)) >>> 0])) return undefined;
    if (bound < 2 ** 32 && kept([a, b, c, (x ^ bound) >>> 0])) return undefined;
    const d = (a * 31 + 7) >>> 0;
    if (kept([a, b, c, d]) !== (x ^ d) >>> 0 < bound) return undefined;
  }
  return odd ? undefined : bound;
}
