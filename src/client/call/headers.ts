/**
 * Reading and setting request headers in undici's dispatch options, whose
 * `headers` may be a plain object (any case), a flat [name, value, ...] array,
 * an iterable of [name, value] pairs, or null. Setting never mutates the
 * caller's value (an application may share one headers object between
 * requests): it returns a new one with the header replaced.
 */
import type { Dispatcher } from 'undici';

export type RequestHeaders = Dispatcher.DispatchOptions['headers'];

type HeaderValue = string | string[] | number | undefined | null;

/** The first value of a request header (name in lower case), or undefined. */
export function getHeader(headers: RequestHeaders, name: string): string | undefined {
  if (headers == null) return undefined;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) return fromPairs(headers as unknown as Iterable<[string, HeaderValue]>, name);
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (sameName(String(headers[i]), name)) return first(headers[i + 1] as HeaderValue);
    }
    return undefined;
  }
  if (isIterable(headers)) return fromPairs(headers as Iterable<[string, HeaderValue]>, name);
  const obj = headers as Record<string, HeaderValue>;
  const direct = obj[name];
  if (direct !== undefined) return first(direct);
  for (const k in obj) if (sameName(k, name)) return first(obj[k]);
  return undefined;
}

/** A copy of `headers` (same shape when possible) with `name` set to `value`, any previous value removed. */
export function withHeader(headers: RequestHeaders, name: string, value: string): RequestHeaders {
  return withHeaderValues(headers, { [name]: value });
}

/**
 * A copy of `headers` with every header of `add` (lower-case names) set, any
 * previous value of the same name, in any case, removed. An object stays an
 * object and a flat array a flat array; any other iterable (Headers, Map, an
 * array of pairs) becomes an object, since undici reads every array as flat.
 * With no headers, `add` itself is the answer: pass an object of your own.
 * With nothing to add, `headers` itself.
 */
export function withHeaderValues(headers: RequestHeaders, add: Record<string, string>): RequestHeaders {
  const names = Object.keys(add);
  if (names.length === 0) return headers;
  if (headers == null) return add;
  if (Array.isArray(headers) && !(headers.length > 0 && Array.isArray(headers[0]))) {
    const out: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (!isOneOf(String(headers[i]), names)) out.push(headers[i] as string, headers[i + 1] as string);
    }
    for (const k of names) out.push(k, add[k]!);
    return out;
  }
  const out: Record<string, HeaderValue> = {};
  if (Array.isArray(headers) || isIterable(headers)) {
    for (const [k, v] of headers as Iterable<[string, HeaderValue]>) {
      if (isOneOf(k, names)) continue;
      const prev = out[k];
      out[k] = prev === undefined ? v : ([] as string[]).concat(prev as string | string[], v as string | string[]);
    }
  } else {
    const obj = headers as Record<string, HeaderValue>;
    // A loop over the keys, no entry arrays: the common shape (fetch and request with a headers object).
    for (const k of Object.keys(obj)) if (!isOneOf(k, names)) out[k] = obj[k];
  }
  for (const k of names) out[k] = add[k];
  return out as RequestHeaders;
}

function isOneOf(k: string, lowerNames: string[]): boolean {
  for (const n of lowerNames) if (sameName(k, n)) return true;
  return false;
}

/** A header name `a`, in any case, is `lower` (a lower-case name). */
export function sameName(a: string, lower: string): boolean {
  return a.length === lower.length && (a === lower || a.toLowerCase() === lower);
}

function first(v: HeaderValue): string | undefined {
  if (v == null) return undefined;
  return Array.isArray(v) ? v[0] : String(v);
}

function fromPairs(pairs: Iterable<[string, HeaderValue]>, name: string): string | undefined {
  for (const [k, v] of pairs) if (sameName(k, name)) return first(v);
  return undefined;
}

function isIterable(v: unknown): v is Iterable<unknown> {
  return typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}
