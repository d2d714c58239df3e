import type { PickContext } from '../../../../src/client/concrete/balancer.js';
import { Endpoint } from '../../../../src/client/endpoint/endpoint.js';
import { RequestHeaders } from '../../../../src/client/call/request-headers.js';

/** Endpoints that never open a pool: balancers only read ids, weights, labels and counters. */
export function endpoints(weights: number[], labels: (i: number) => Record<string, string> = () => ({}), base = 0): Endpoint[] {
  return weights.map(
    (weight, i) =>
      new Endpoint({ id: `10.0.0.${base + i + 1}:80`, address: `10.0.0.${base + i + 1}`, port: 80, labels: labels(i), weight }, () => {
        throw new Error('no pool in a balancer test');
      }),
  );
}

/** A call carrying only headers (what ring_hash reads). */
export function callWith(headers: Record<string, string> = {}): PickContext {
  return { headers: RequestHeaders.from(headers), avoids: () => false };
}

export function tally<T>(items: T[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}
