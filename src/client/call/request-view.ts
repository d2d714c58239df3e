/**
 * Reading the request as the application gave it to undici, without building
 * anything the route does not need: one header scanned in place, the query
 * string parsed into a map only when a route matches on a query parameter.
 */
import { sameName } from './headers.js';

export type ScannableHeaders = readonly unknown[] | Readonly<Record<string, unknown>>;

/**
 * RequestHeaders' answer for one name, without building it: the values of
 * every entry whose name matches in any case, in order, joined with ", ";
 * undefined when there are none (null/undefined values and empty arrays count
 * as none, as there).
 */
export function scanHeader(raw: ScannableHeaders, name: string): string | undefined {
  let out: string | undefined;
  if (Array.isArray(raw)) {
    if (raw.length > 0 && Array.isArray(raw[0])) {
      for (const pair of raw as readonly [unknown, unknown][]) if (sameName(String(pair[0]), name)) out = joinValue(out, pair[1]);
    } else {
      for (let i = 0; i + 1 < raw.length; i += 2) if (sameName(String(raw[i]), name)) out = joinValue(out, raw[i + 1]);
    }
    return out;
  }
  const obj = raw as Readonly<Record<string, unknown>>;
  for (const k in obj) if (Object.hasOwn(obj, k) && sameName(k, name)) out = joinValue(out, obj[k]);
  return out;
}

function joinValue(out: string | undefined, v: unknown): string | undefined {
  if (v === undefined || v === null) return out;
  if (Array.isArray(v)) {
    for (const x of v) out = out === undefined ? String(x) : `${out}, ${String(x)}`;
    return out;
  }
  return out === undefined ? String(v) : `${out}, ${String(v)}`;
}

export function parseQuery(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = path.indexOf('?');
  if (q < 0) return out;
  for (const part of path.slice(q + 1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(name)) out.set(name, eq < 0 ? '' : decode(part.slice(eq + 1)));
  }
  return out;
}

function decode(s: string): string {
  const plus = s.includes('+') ? s.replaceAll('+', ' ') : s;
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}
