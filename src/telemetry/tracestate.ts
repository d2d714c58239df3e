/**
 * W3C `tracestate` checked to the letter before the mesh sends it on
 * (https://www.w3.org/TR/trace-context/#tracestate-header), with or without an
 * SDK. A list the spec calls valid goes on unchanged, order kept; anything
 * else is discarded whole, never forwarded raw.
 *
 * Grammar (Level 1, the one the spec's own test suite checks):
 *   list        = list-member 0*31( OWS "," OWS list-member ), empty members allowed
 *   list-member = key "=" value            (no whitespace around "=")
 *   key         = simple-key / tenant "@" system
 *   simple-key  = lcalpha 0*255 keychar                        1-256 chars
 *   tenant      = ( lcalpha / DIGIT ) 0*240 keychar            1-241 chars
 *   system      = lcalpha 0*13 keychar                         1-14 chars
 *   keychar     = lcalpha / DIGIT / "_" / "-" / "*" / "/"
 *   value       = 0*255 chr nblk-chr       printable ASCII but "," and "=", 1-256 chars, not ending in a space
 *
 * Why the whole list and not just the bad member: the spec's test suite
 * (w3c/trace-context test/test.py, strict level 2, its default) expects an
 * illegal key, an illegal value, a duplicated key or a 33rd member to discard
 * the tracestate, and a member we cannot read may be the one a vendor needs
 * next to the ones we kept. Level 2 widened keys ("@" anywhere, a digit
 * first); a Level 2 key Level 1 refuses is rare and its list is dropped, which
 * the spec allows a vendor that fails to parse it.
 */

/** At most this many list members (the spec's limit). */
export const MAX_MEMBERS = 32;

// Character classes by byte: 1 lcalpha, 2 digit, 4 "_" "-" "*" "/".
const LC = 1;
const DIGIT = 2;
const PUNCT = 4;
const KEY_CLASS = Uint8Array.from({ length: 128 }, (_, c) => (c >= 97 && c <= 122 ? LC : c >= 48 && c <= 57 ? DIGIT : c === 95 || c === 45 || c === 42 || c === 47 ? PUNCT : 0));

const SPACE = 32;
const TAB = 9;
const COMMA = 44;
const EQUALS = 61;
const AT = 64;

function isOws(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** Whether `s[from, to)` is a key: a simple key, or tenant@system. */
export function validKey(s: string, from: number, to: number): boolean {
  const n = to - from;
  if (n < 1 || n > 256) return false;
  let at = -1;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === AT) {
      if (at >= 0) return false;
      at = i;
    } else if (c >= 128 || KEY_CLASS[c] === 0) return false;
  }
  const first = s.charCodeAt(from);
  if (at < 0) return KEY_CLASS[first] === LC;
  const tenant = at - from;
  const system = to - at - 1;
  return tenant >= 1 && tenant <= 241 && (KEY_CLASS[first]! & (LC | DIGIT)) !== 0 && system >= 1 && system <= 14 && KEY_CLASS[s.charCodeAt(at + 1)] === LC;
}

/** Whether `s[from, to)` is a value: 1-256 printable ASCII characters but "," and "=", the last not a space. */
export function validValue(s: string, from: number, to: number): boolean {
  const n = to - from;
  if (n < 1 || n > 256 || s.charCodeAt(to - 1) === SPACE) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === COMMA || c === EQUALS) return false;
  }
  return true;
}

/**
 * The tracestate to send on, given the one that arrived (several header lines
 * joined with ","): the same string when it is valid and written without
 * optional whitespace or empty members (the common case: no copy); the same
 * members in the same order, joined by "," when it had either; undefined when
 * it is empty or invalid (illegal key or value, duplicated key, more than 32
 * members).
 */
export function sanitizeTracestate(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const n = raw.length;
  let canonical = true;
  let members = 0;
  let keys: string[] | undefined;
  let firstKey: string | undefined;
  let parts: string[] | undefined;
  let start = 0;
  while (start <= n) {
    let end = raw.indexOf(',', start);
    if (end < 0) end = n;
    // Optional whitespace around the member is not part of it.
    let a = start;
    let b = end;
    while (a < b && isOws(raw.charCodeAt(a))) a++;
    while (b > a && isOws(raw.charCodeAt(b - 1))) b--;
    if (a !== start || b !== end) canonical = false;
    if (a === b) {
      // An empty member (or a trailing comma): allowed, skipped.
      canonical = false;
    } else {
      const eq = raw.indexOf('=', a);
      if (eq < 0 || eq >= b || !validKey(raw, a, eq) || !validValue(raw, eq + 1, b)) return undefined;
      if (++members > MAX_MEMBERS) return undefined;
      const key = raw.slice(a, eq);
      // Keys are few (at most 32): a scan beats a Set for the list sizes seen in practice.
      if (firstKey === undefined) firstKey = key;
      else if (key === firstKey || (keys !== undefined && keys.includes(key))) return undefined;
      else (keys ??= []).push(key);
      (parts ??= []).push(raw.slice(a, b));
    }
    start = end + 1;
  }
  if (members === 0) return undefined;
  return canonical ? raw : parts!.join(',');
}
