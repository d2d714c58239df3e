/**
 * Reading and setting one request header in undici's dispatch options, whose
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
  if (headers == null) return { [name]: value };
  if (Array.isArray(headers) && !(headers.length > 0 && Array.isArray(headers[0]))) {
    const out: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (!sameName(String(headers[i]), name)) out.push(headers[i] as string, headers[i + 1] as string);
    }
    out.push(name, value);
    return out;
  }
  if (Array.isArray(headers) || isIterable(headers)) {
    const out: Record<string, HeaderValue> = {};
    for (const [k, v] of headers as Iterable<[string, HeaderValue]>) {
      if (sameName(k, name)) continue;
      const prev = out[k];
      out[k] = prev === undefined ? v : ([] as string[]).concat(prev as string | string[], v as string | string[]);
    }
    out[name] = value;
    return out as RequestHeaders;
  }
  const obj = headers as Record<string, HeaderValue>;
  const out: Record<string, HeaderValue> = {};
  for (const k in obj) if (!sameName(k, name)) out[k] = obj[k];
  out[name] = value;
  return out as RequestHeaders;
}

function sameName(a: string, lower: string): boolean {
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
