/**
 * RegularExpression matches (Route paths, headers, query parameters): RE2
 * syntax and semantics, as Envoy's safe_regex and the Gateway API expect,
 * matching the whole value (`/v[0-9]+` matches `/v1` but not `/v1/admin`),
 * in time linear in the input whatever the pattern. One definition, so the
 * control plane validates exactly what the clients compile.
 *
 * Route regexes run on every request against caller-controlled input, so a
 * backtracking engine would let one request stall a whole process (`(a|a)*`
 * on 31 characters took 55 s with V8). Patterns run on re2js, a pure-JS port
 * of RE2 (lazy DFA, NFA fallback: no backtracking, no native build), except
 * those that regex-deterministic.ts proves V8 runs in linear time, which V8
 * runs ~10x faster. docs/architecture.md has the measurements and the choice.
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';
import { deterministicRegExp } from './regex-deterministic.js';

type Re2Module = typeof import('re2js');
let re2Module: Re2Module | undefined;
/**
 * re2js loaded on the first regex compiled, not at import: it is ~250 KB of
 * JavaScript that a service whose routes have no regex (most) never needs,
 * and every mesh process imports this file. The CommonJS build, so that the
 * load is synchronous, like the compile that asks for it.
 */
function re2(): Re2Module {
  return (re2Module ??= createRequire(import.meta.url)('re2js') as Re2Module);
}

/**
 * Longest value (in UTF-16 code units, as JavaScript counts a string's
 * length) a regex is run against: a longer one does not match. With the
 * program cap below it bounds the worst case of one match (~0.5 s measured
 * for adversarial pattern and input together, ~0.1 ms for the usual
 * catastrophic ones; docs/benchmarks.md). Fails safe for routing (the request
 * goes to a less specific rule or the whole service); a caller that denies
 * on a match (an authorization DENY) must treat a longer value as a denial.
 */
export const REGEX_MAX_INPUT_LENGTH = 8192;

/**
 * Largest compiled RE2 program (instructions, re2js's programSize()) a
 * pattern may have: a counted repeat multiplies its operand (`.{0,1000}` is
 * 2,002), and the NFA's cost per character grows with it. Envoy refuses
 * programs above 100 by default; 1,000 leaves room for long alternations.
 */
export const REGEX_MAX_PROGRAM_SIZE = 1000;

export interface FullMatcher {
  /** True when the whole value matches; false for a value longer than REGEX_MAX_INPUT_LENGTH. */
  test(value: string): boolean;
  /** Which engine runs it: `v8` for the proven-linear subset, `re2` otherwise (for diagnostics and benches). */
  readonly engine: 'v8' | 're2';
}

/** A pattern the engine refuses; `reason` is worded to follow the quoted pattern, as the message does. */
export class RegexRejection extends Error {
  constructor(
    pattern: string,
    readonly reason: string,
  ) {
    super(`regular expression "${pattern.slice(0, 100)}" ${reason}`);
    this.name = 'RegexRejection';
  }
}

/** Compile a full-match regex; throws RegexRejection when the pattern is not accepted (see regexError). */
export function compileFullMatch(pattern: string): FullMatcher {
  // Compiled by RE2 whichever engine runs it: the syntax accepted and the refusals are RE2's.
  const compiled = compileRe2(pattern);
  const v8 = deterministicRegExp(pattern);
  if (v8 !== undefined) {
    return { engine: 'v8', test: (value) => value.length <= REGEX_MAX_INPUT_LENGTH && v8.test(value) };
  }
  return { engine: 're2', test: (value) => value.length <= REGEX_MAX_INPUT_LENGTH && compiled.testExact(value) };
}

/** Why a pattern is refused (to follow `regular expression "<pattern>"`), or undefined when it is accepted. */
export function regexError(pattern: string): string | undefined {
  try {
    compileFullMatch(pattern);
    return undefined;
  } catch (err) {
    if (err instanceof RegexRejection) return err.reason;
    throw err;
  }
}

function compileRe2(pattern: string): RE2JS {
  const unsupported = unsupportedFeature(pattern);
  if (unsupported !== undefined) throw new RegexRejection(pattern, `uses ${unsupported}, which RE2 syntax does not have (route regexes run in linear time)`);
  const { RE2JS: Re2, RE2JSException, RE2JSSyntaxException } = re2();
  let re: RE2JS;
  try {
    re = Re2.compile(pattern);
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err;
    const why = err instanceof RE2JSSyntaxException ? `${err.error}${err.input ? `: \`${err.input.slice(0, 60)}\`` : ''}` : err.message;
    throw new RegexRejection(pattern, `does not compile (RE2 syntax): ${why}`);
  }
  const size = re.programSize();
  if (size > REGEX_MAX_PROGRAM_SIZE) {
    throw new RegexRejection(
      pattern,
      `is too large: its RE2 program has ${size} instructions, above the limit of ${REGEX_MAX_PROGRAM_SIZE} (a counted repeat such as {0,500} multiplies what it repeats)`,
    );
  }
  return re;
}

/**
 * JavaScript features RE2 refuses, named: re2js would only say "invalid
 * escape sequence" or "invalid named capture", which leaves the author of a
 * pattern that worked before guessing. Escapes are skipped pairwise so `\\1`
 * (a backslash, then 1) is not taken for a backreference.
 */
function unsupportedFeature(pattern: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const e = pattern[i + 1];
      if (e !== undefined && !inClass && e >= '1' && e <= '9') return `a backreference (\\${e})`;
      if (e === 'k' && !inClass && pattern[i + 2] === '<') return 'a named backreference (\\k<...>)';
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      // `]` right after `[` or `[^` is a literal in RE2.
      if (pattern[i + 1] === '^') i++;
      if (pattern[i + 1] === ']') i++;
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest.startsWith('=')) return 'a lookahead (?=...)';
      if (rest.startsWith('!')) return 'a negative lookahead (?!...)';
      if (rest === '<=') return 'a lookbehind (?<=...)';
      if (rest === '<!') return 'a negative lookbehind (?<!...)';
    }
  }
  return undefined;
}
