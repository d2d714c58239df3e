/**
 * The route regexes V8's backtracking engine may run: a sound rule, not a
 * heuristic, so any pattern it lets through cannot backtrack more than
 * linearly; everything else runs on the RE2 engine (config/regex.ts).
 *
 * Why V8 at all: route regexes run on every request, and V8 runs the usual
 * shapes (`/api/v[0-9]+/items/[^/]+`, `Bearer [A-Za-z0-9._-]+`) in ~40 ns
 * where re2js takes ~300-700 ns (docs/benchmarks.md, bench/regex-match.ts).
 *
 * The subset: a sequence of single-character atoms (a literal, an escaped
 * punctuation mark, `.`, `\d \D \w \W \s \S`, or a bracket class of those and
 * ranges), each with an optional quantifier, an optional leading `^` and
 * trailing `$`, and nothing else (no groups, no alternation, no flags, no
 * other escapes). It is deterministic when, for every atom whose count can
 * vary, its characters are disjoint from every character that the rest of
 * the pattern can start with (the atoms after it up to the first one that
 * must consume). Then at each choice point the backtracker makes (continue
 * the loop, or leave it), the next input character can satisfy at most one
 * side, so the wrong side dies at its first character test: the search is
 * one path of at most (input length + 1) choice points, each costing at most
 * the pattern's length. `/.*.*x`, `[a-z]*[a-z0-9]`, `(a|a)*` all fail the rule.
 *
 * The V8 source is rebuilt from the parse with the `u` flag, so that V8
 * matches exactly what RE2 would: code points rather than UTF-16 units, `.`
 * as "anything but \n", `\s` as RE2's `[\t\n\f\r ]`, ASCII `\d` and `\w`.
 * test/config/regex.test.ts checks the two engines agree on this subset.
 */

/** Sorted, non-overlapping, non-adjacent inclusive code point ranges. */
type CharSet = readonly (readonly [number, number])[];

const MAX_CODE_POINT = 0x10ffff;
const DIGIT: CharSet = [[0x30, 0x39]];
const WORD: CharSet = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
/** RE2's `\s`: tab, newline, form feed, carriage return, space (no vertical tab, no Unicode spaces). */
const SPACE: CharSet = [
  [0x09, 0x0a],
  [0x0c, 0x0d],
  [0x20, 0x20],
];
const NEWLINE: CharSet = [[0x0a, 0x0a]];

interface Atom {
  set: CharSet;
  min: number;
  /** Infinity for an unbounded repeat. */
  max: number;
  lazy: boolean;
}

/**
 * A V8 RegExp that full-matches exactly what RE2 full-matches for `pattern`,
 * or undefined when the pattern is outside the deterministic subset (the
 * caller then uses RE2). `pattern` must already have compiled as RE2.
 */
export function deterministicRegExp(pattern: string): RegExp | undefined {
  const atoms = parseSequence(pattern);
  if (atoms === undefined || !deterministic(atoms)) return undefined;
  return new RegExp(`^(?:${atoms.map(source).join('')})$`, 'u');
}

function deterministic(atoms: readonly Atom[]): boolean {
  for (let i = 0; i < atoms.length; i++) {
    const a = atoms[i]!;
    if (a.max === a.min) continue;
    for (let j = i + 1; j < atoms.length; j++) {
      const b = atoms[j]!;
      if (intersects(a.set, b.set)) return false;
      if (b.min > 0) break;
    }
  }
  return true;
}

const isAsciiAlnum = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
/** RE2 takes a backslash before any ASCII character that is not a letter or digit as that character. */
const isEscapablePunct = (c: number) => c > 0x20 && c < 0x7f && !isAsciiAlnum(c);

function classEscape(c: number): CharSet | undefined {
  switch (c) {
    case 0x64: // d
      return DIGIT;
    case 0x44: // D
      return complement(DIGIT);
    case 0x77: // w
      return WORD;
    case 0x57: // W
      return complement(WORD);
    case 0x73: // s
      return SPACE;
    case 0x53: // S
      return complement(SPACE);
  }
  return undefined;
}

/** The atoms of a pattern in the subset, or undefined as soon as anything else appears. */
function parseSequence(pattern: string): Atom[] | undefined {
  const cps = Array.from(pattern, (ch) => ch.codePointAt(0)!);
  let i = 0;
  let end = cps.length;
  if (cps[0] === 0x5e) i = 1; // a leading ^ is the start of text (no multi-line flag in the subset): full match anyway
  if (end > i && cps[end - 1] === 0x24 && !escapedAt(cps, end - 1)) end--; // likewise a trailing $
  const atoms: Atom[] = [];
  while (i < end) {
    const c = cps[i]!;
    let set: CharSet | undefined;
    if (c === 0x5c) {
      const e = cps[i + 1];
      if (e === undefined || i + 1 >= end) return undefined;
      set = classEscape(e) ?? (isEscapablePunct(e) ? single(e) : undefined);
      i += 2;
    } else if (c === 0x2e) {
      set = complement(NEWLINE);
      i++;
    } else if (c === 0x5b) {
      const parsed = parseClass(cps, i + 1, end);
      if (parsed === undefined) return undefined;
      set = parsed.set;
      i = parsed.next;
    } else if ('()|*+?{}^$]'.includes(String.fromCodePoint(c))) {
      return undefined;
    } else {
      set = single(c);
      i++;
    }
    if (set === undefined) return undefined;
    const q = parseQuantifier(cps, i, end);
    if (q === undefined) return undefined;
    i = q.next;
    atoms.push({ set, min: q.min, max: q.max, lazy: q.lazy });
  }
  return atoms;
}

function escapedAt(cps: readonly number[], k: number): boolean {
  let n = 0;
  while (k - 1 - n >= 0 && cps[k - 1 - n] === 0x5c) n++;
  return n % 2 === 1;
}

function parseQuantifier(cps: readonly number[], i: number, end: number): { min: number; max: number; lazy: boolean; next: number } | undefined {
  let min = 1;
  let max = 1;
  const c = i < end ? cps[i] : undefined;
  if (c === 0x2a) [min, max, i] = [0, Infinity, i + 1];
  else if (c === 0x2b) [min, max, i] = [1, Infinity, i + 1];
  else if (c === 0x3f) [min, max, i] = [0, 1, i + 1];
  else if (c === 0x7b) {
    const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(String.fromCodePoint(...cps.slice(i, Math.min(end, i + 12))));
    // A `{` that is not a repeat is a literal in RE2; leave such patterns to RE2.
    if (!m) return undefined;
    min = Number(m[1]);
    max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    if (max < min || max === 0) return undefined;
    i += m[0].length;
  } else return { min, max, lazy: false, next: i };
  let lazy = false;
  if (i < end && cps[i] === 0x3f) {
    lazy = true;
    i++;
  }
  // Anything quantifier-like after that is a syntax error in RE2, which has already refused it; stay out regardless.
  if (i < end && (cps[i] === 0x2a || cps[i] === 0x2b || cps[i] === 0x3f || cps[i] === 0x7b)) return undefined;
  return { min, max, lazy, next: i };
}

/** A bracket class starting after its `[`: literals, ranges, `\d`-style escapes and escaped punctuation only. */
function parseClass(cps: readonly number[], i: number, end: number): { set: CharSet; next: number } | undefined {
  let negated = false;
  if (cps[i] === 0x5e) {
    negated = true;
    i++;
  }
  // `]` first is a literal in RE2 but closes an empty class in JavaScript; `[` may open `[:alpha:]`. Left to RE2.
  if (cps[i] === 0x5d) return undefined;
  let ranges: [number, number][] = [];
  for (let first = true; ; first = false) {
    if (i >= end) return undefined;
    const c = cps[i]!;
    if (c === 0x5d) {
      i++;
      break;
    }
    if (c === 0x5b) return undefined;
    // A `-` first or last is a literal (`[A-Za-z0-9._-]`); anywhere else outside a range, left to RE2.
    if (c === 0x2d && !first && cps[i + 1] !== 0x5d) return undefined;
    let lo: number;
    if (c === 0x5c) {
      const e = cps[i + 1];
      if (e === undefined || i + 1 >= end) return undefined;
      const esc = classEscape(e);
      if (esc !== undefined) {
        ranges.push(...esc.map(([a, b]) => [a, b] as [number, number]));
        i += 2;
        continue;
      }
      if (!isEscapablePunct(e)) return undefined;
      lo = e;
      i += 2;
    } else {
      lo = c;
      i++;
    }
    let hi = lo;
    if (cps[i] === 0x2d && i + 1 < end && cps[i + 1] !== 0x5d) {
      const d = cps[i + 1]!;
      if (d === 0x5c) {
        const e = cps[i + 2];
        if (e === undefined || i + 2 >= end || !isEscapablePunct(e)) return undefined;
        hi = e;
        i += 3;
      } else {
        if (d === 0x5b) return undefined;
        hi = d;
        i += 2;
      }
      if (hi < lo) return undefined;
    }
    ranges.push([lo, hi]);
  }
  ranges = normalize(ranges);
  return { set: negated ? complement(ranges) : ranges, next: i };
}

function single(c: number): CharSet {
  return [[c, c]];
}

function normalize(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function complement(set: CharSet): CharSet {
  const out: [number, number][] = [];
  let next = 0;
  for (const [lo, hi] of set) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

function intersects(a: CharSet, b: CharSet): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [alo, ahi] = a[i]!;
    const [blo, bhi] = b[j]!;
    if (ahi < blo) i++;
    else if (bhi < alo) j++;
    else return true;
  }
  return false;
}

const hex = (c: number) => `\\u{${c.toString(16)}}`;

function source(a: Atom): string {
  const s = a.set;
  const cls = s.length === 1 && s[0]![0] === s[0]![1] ? hex(s[0]![0]) : `[${s.map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`)).join('')}]`;
  let q = '';
  if (a.min === 0 && a.max === Infinity) q = '*';
  else if (a.min === 1 && a.max === Infinity) q = '+';
  else if (a.min === 0 && a.max === 1) q = '?';
  else if (a.max === Infinity) q = `{${a.min},}`;
  else if (a.min !== a.max) q = `{${a.min},${a.max}}`;
  else if (a.min !== 1) q = `{${a.min}}`;
  return cls + (q !== '' && a.lazy ? `${q}?` : q);
}
