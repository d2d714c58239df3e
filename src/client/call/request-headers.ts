/**
 * The request headers of one call, by lower-case name, for route matching,
 * hashing and modification. Built from whatever shape the application gave
 * undici (an object with names in any case, a flat [name, value, ...] array,
 * or an iterable of pairs, as undici.fetch passes), and only when a layer asks
 * (MeshCall.headers): a call whose route needs no header pays nothing.
 */
import type { Dispatcher } from 'undici';

type RawHeaders = Dispatcher.DispatchOptions['headers'];

export class RequestHeaders {
  /** Lower-case name -> values in order (a header may repeat). */
  #map = new Map<string, string[]>();

  static from(raw: RawHeaders): RequestHeaders {
    const h = new RequestHeaders();
    if (raw == null) return h;
    if (Array.isArray(raw)) {
      for (let i = 0; i + 1 < raw.length; i += 2) h.#push(String(raw[i]), raw[i + 1] as unknown);
    } else if (typeof (raw as Iterable<unknown>)[Symbol.iterator] === 'function') {
      for (const pair of raw as Iterable<[string, unknown]>) h.#push(String(pair[0]), pair[1]);
    } else {
      const obj = raw as Record<string, unknown>;
      for (const name of Object.keys(obj)) h.#push(name, obj[name]);
    }
    return h;
  }

  #push(name: string, value: unknown): void {
    if (value === undefined || value === null) return;
    const key = name.toLowerCase();
    const list = this.#map.get(key) ?? [];
    if (Array.isArray(value)) for (const v of value) list.push(String(v));
    else list.push(String(value));
    if (list.length > 0) this.#map.set(key, list);
  }

  /** The value of a header (`name` in lower case); repeated headers are joined with ", " as RFC 9110 allows. */
  get(name: string): string | undefined {
    const list = this.#map.get(name);
    if (list === undefined) return undefined;
    return list.length === 1 ? list[0] : list.join(', ');
  }

  /** Every value of a header, unjoined (cookies are joined with "; ", not ", "). */
  all(name: string): readonly string[] | undefined {
    return this.#map.get(name);
  }

  has(name: string): boolean {
    return this.#map.has(name);
  }

  set(name: string, value: string): void {
    this.#map.set(name, [value]);
  }

  add(name: string, value: string): void {
    const list = this.#map.get(name);
    if (list) list.push(value);
    else this.#map.set(name, [value]);
  }

  remove(name: string): void {
    this.#map.delete(name);
  }

  /** The flat [name, value, ...] array undici takes, for a call whose headers a route filter changed. */
  toFlat(): string[] {
    const out: string[] = [];
    for (const [name, values] of this.#map) for (const v of values) out.push(name, v);
    return out;
  }
}
