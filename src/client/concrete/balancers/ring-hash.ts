import type { Balancer, PickContext } from '../balancer.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import { hash32 } from './hash.js';

export interface RingHashOptions {
  /** Hash this request header (lower case)... */
  header?: string | undefined;
  /** ...or this cookie. */
  cookie?: string | undefined;
  /** Points per unit of weight (Service.spec.ringHash.virtualNodes). */
  virtualNodes: number;
}

/** Beyond this many points the count per weight unit is scaled down (huge weights on many instances). */
const MAX_POINTS = 1 << 20;

/**
 * ring_hash: consistent hashing (Karger et al., ketama) on a request header or
 * cookie, for affinity: one key keeps reaching one endpoint while the set is
 * stable. Each endpoint owns `virtualNodes x weight` points, placed by hashing
 * its id, so every client builds the same ring, and adding an endpoint only
 * moves the keys whose nearest point is now one of its own: about 1/(N+1) of
 * them. A request without the key goes to a random point (Envoy does the same).
 */
export class RingHashBalancer implements Balancer {
  readonly name = 'ring_hash';
  readonly #header: string | undefined;
  /** `name=` of the cookie, so a lookup compares without building a string. */
  readonly #cookiePrefix: string | undefined;
  readonly #virtualNodes: number;
  #source: readonly Endpoint[] | undefined;
  #points = new Uint32Array(0);
  #owners: Endpoint[] = [];

  constructor(options: RingHashOptions) {
    this.#header = options.header;
    this.#cookiePrefix = options.cookie === undefined ? undefined : `${options.cookie}=`;
    this.#virtualNodes = options.virtualNodes;
  }

  pick(endpoints: readonly Endpoint[], call: PickContext): Endpoint | undefined {
    if (endpoints !== this.#source) this.update(endpoints);
    const n = this.#points.length;
    if (n === 0) return undefined;
    if (endpoints.length === 1) return endpoints[0];
    const h = this.#key(call);
    return this.#owners[h === undefined ? Math.floor(Math.random() * n) : this.#find(h)];
  }

  update(endpoints: readonly Endpoint[]): void {
    this.#source = endpoints;
    const g = endpoints.reduce((acc, e) => gcd(acc, e.info.weight), 0) || 1;
    const units = endpoints.reduce((s, e) => s + e.info.weight / g, 0);
    const perUnit = Math.max(1, Math.min(this.#virtualNodes, Math.floor(MAX_POINTS / Math.max(1, units))));
    const entries: { h: number; ep: Endpoint }[] = [];
    for (const ep of endpoints) {
      const count = (ep.info.weight / g) * perUnit;
      for (let i = 0; i < count; i++) entries.push({ h: hash32(`${ep.id}#${i}`), ep });
    }
    // Equal hashes are ordered by id, so that every client builds the very same ring.
    entries.sort((a, b) => a.h - b.h || (a.ep.id < b.ep.id ? -1 : a.ep.id > b.ep.id ? 1 : 0));
    this.#points = Uint32Array.from(entries, (e) => e.h);
    this.#owners = entries.map((e) => e.ep);
  }

  /** The request's key hash, or undefined when it carries none. */
  #key(call: PickContext): number | undefined {
    if (this.#header !== undefined) {
      const v = call.headers.get(this.#header);
      return v === undefined ? undefined : hash32(v);
    }
    const prefix = this.#cookiePrefix!;
    for (const header of call.headers.all('cookie') ?? []) {
      const at = findCookie(header, prefix);
      if (at < 0) continue;
      let end = header.indexOf(';', at);
      if (end < 0) end = header.length;
      return hash32(header, at, end);
    }
    return undefined;
  }

  /** Index of the first point at or after h, wrapping around. */
  #find(h: number): number {
    const p = this.#points;
    let lo = 0;
    let hi = p.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (p[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === p.length ? 0 : lo;
  }
}

/** Where the value of cookie `prefix` ("name=") starts in a Cookie header, or -1. */
function findCookie(header: string, prefix: string): number {
  let from = 0;
  while (from < header.length) {
    const at = header.indexOf(prefix, from);
    if (at < 0) return -1;
    // A match must start the header or follow "; " (not be the tail of another cookie's name).
    let k = at - 1;
    while (k >= 0 && header.charCodeAt(k) === 32) k--;
    if (k < 0 || header.charCodeAt(k) === 59 /* ; */) return at + prefix.length;
    from = at + 1;
  }
  return -1;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
