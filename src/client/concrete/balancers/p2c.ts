import type { Endpoint } from '../../endpoint/endpoint.js';

/**
 * Power of two choices (Mitzenmacher): draw two different endpoints at
 * random, in proportion to their weights, and keep the cheaper one. Shared by
 * least_request and peak_ewma, which differ only in the cost. Weights act
 * twice: in the draw (what counts when endpoints are idle and tie) and in the
 * cost's in-flight term (what counts under load).
 */
export abstract class P2cBalancer {
  #source: readonly Endpoint[] | undefined;
  /** Cumulative weights, or undefined when every weight is equal (then a draw is one multiplication). */
  #cumulative: Float64Array | undefined;
  #total = 0;

  protected abstract cost(ep: Endpoint, now: number): number;
  /** Whether cost() reads the clock (so pick() asks for it once). */
  protected abstract readonly timed: boolean;

  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    if (endpoints !== this.#source) this.update(endpoints);
    const n = endpoints.length;
    if (n <= 1) return endpoints[0];
    const i = this.#draw(n, -1);
    const j = this.#draw(n, i);
    const a = endpoints[i]!;
    const b = endpoints[j]!;
    const now = this.timed ? performance.now() : 0;
    // Ties keep the first draw, which is already random.
    return this.cost(b, now) < this.cost(a, now) ? b : a;
  }

  update(endpoints: readonly Endpoint[]): void {
    this.#source = endpoints;
    const first = endpoints[0]?.info.weight;
    if (endpoints.every((e) => e.info.weight === first)) {
      this.#cumulative = undefined;
      return;
    }
    const c = new Float64Array(endpoints.length);
    let sum = 0;
    endpoints.forEach((e, k) => (c[k] = sum += e.info.weight));
    this.#cumulative = c;
    this.#total = sum;
  }

  /** A random index, different from `not` (n >= 2). */
  #draw(n: number, not: number): number {
    const c = this.#cumulative;
    if (c === undefined) {
      if (not < 0) return Math.floor(Math.random() * n);
      const k = Math.floor(Math.random() * (n - 1));
      return k >= not ? k + 1 : k;
    }
    for (let tries = 0; tries < 3; tries++) {
      const k = search(c, Math.random() * this.#total);
      if (k !== not) return k;
    }
    // A dominant weight keeps drawing the same one: take its neighbour rather than loop.
    return (not + 1) % n;
  }
}

/** The first index whose cumulative weight exceeds r. */
function search(c: Float64Array, r: number): number {
  let lo = 0;
  let hi = c.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c[mid]! > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
