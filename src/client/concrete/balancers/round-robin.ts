import type { Balancer } from '../balancer.js';
import type { Endpoint } from '../../endpoint/endpoint.js';

/**
 * Weighted round-robin: each endpoint appears in the schedule in proportion to
 * its weight, interleaved (smooth weighted round-robin, as nginx does) so that a
 * heavy endpoint does not get its share in one burst. With equal weights it is
 * plain rotation.
 */
export class RoundRobinBalancer implements Balancer {
  readonly name = 'round_robin';
  #cursor = 0;
  #schedule: readonly Endpoint[] = [];
  #source: readonly Endpoint[] | undefined;

  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    if (endpoints !== this.#source) this.update(endpoints);
    const n = this.#schedule.length;
    if (n === 0) return undefined;
    const ep = this.#schedule[this.#cursor % n];
    this.#cursor = (this.#cursor + 1) % n;
    return ep;
  }

  update(endpoints: readonly Endpoint[]): void {
    this.#source = endpoints;
    this.#schedule = smoothSchedule(endpoints);
    // Start at a random place so that many clients do not all hit the first endpoint together.
    this.#cursor = this.#schedule.length > 0 ? Math.floor(Math.random() * this.#schedule.length) : 0;
  }
}

function smoothSchedule(endpoints: readonly Endpoint[]): Endpoint[] {
  if (endpoints.every((e) => e.info.weight === endpoints[0]?.info.weight)) return [...endpoints];
  // Weights 200:300 schedule like 2:3: the schedule (and its O(length x n) build) stays as short as the ratios allow.
  const divisor = endpoints.reduce((g, e) => gcd(g, e.info.weight), 0);
  const weights = endpoints.map((e) => e.info.weight / divisor);
  const total = weights.reduce((s, w) => s + w, 0);
  const current = endpoints.map(() => 0);
  const out: Endpoint[] = [];
  for (let i = 0; i < total; i++) {
    let best = 0;
    for (let j = 0; j < endpoints.length; j++) {
      current[j]! += weights[j]!;
      if (current[j]! > current[best]!) best = j;
    }
    current[best]! -= total;
    out.push(endpoints[best]!);
  }
  return out;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
