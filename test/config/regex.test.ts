/**
 * The route regex engine (config/regex.ts): RE2 syntax and semantics, whole
 * value, linear time; the V8 fast path (config/regex-deterministic.ts) takes
 * only patterns it can prove linear, and matches exactly what RE2 matches.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RE2JS } from 're2js';
import { compileFullMatch, regexError, REGEX_MAX_INPUT_LENGTH, REGEX_MAX_PROGRAM_SIZE } from '../../src/config/regex.js';

const full = (pattern: string, value: string) => compileFullMatch(pattern).test(value);

describe('route regexes: RE2 syntax, whole-value match', () => {
  it('matches the whole value, whatever anchors the pattern has', () => {
    assert.equal(full('/v[0-9]+', '/v1'), true);
    assert.equal(full('/v[0-9]+', '/v1/admin'), false);
    assert.equal(full('/v[0-9]+', 'x/v1'), false);
    assert.equal(full('^/v[0-9]+$', '/v12'), true);
    assert.equal(full('\\A/v[0-9]+\\z', '/v12'), true);
    // Alternation binds looser than the implicit anchors: neither branch may match a part.
    assert.equal(full('a|b', 'ab'), false);
    assert.equal(full('a|b', 'b'), true);
    assert.equal(full('', ''), true);
    assert.equal(full('', 'x'), false);
  });

  it('classes, \\d, \\w and \\s are ASCII, as in RE2', () => {
    assert.equal(full('\\d+', '0123456789'), true);
    assert.equal(full('\\d', '٣'), false, 'Arabic-Indic digit three');
    assert.equal(full('\\w+', 'a_Z9'), true);
    assert.equal(full('\\w', 'é'), false);
    assert.equal(full('\\s', '\t'), true);
    assert.equal(full('\\s', '\v'), false, 'RE2 \\s has no vertical tab');
    assert.equal(full('\\s', '\u00a0'), false, 'nor Unicode spaces');
    assert.equal(full('[^/]+', 'a\nb'), true, 'a negated class takes a newline');
    assert.equal(full('[[:digit:]]+', '42'), true, 'POSIX classes');
    assert.equal(full('[A-Za-z0-9._-]+', 'a.b_c-d'), true);
  });

  it('unicode: code points, not UTF-16 units; \\p classes', () => {
    assert.equal(full('.', '😀'), true, 'one astral character is one `.`');
    assert.equal(full('..', '😀'), false);
    assert.equal(full('.', '\n'), false, '`.` is anything but a newline');
    assert.equal(full('(?s).', '\n'), true);
    assert.equal(full('\\p{Greek}+', 'λόγος'), true);
    assert.equal(full('\\pL+', 'Zürich'), true);
    assert.equal(full('\\x{1F600}', '😀'), true);
  });

  it('flags: case-insensitive (?i), and for part of a pattern', () => {
    assert.equal(full('(?i)bearer [a-z]+', 'BEARER abc'), true);
    assert.equal(full('(?i:bearer) [a-z]+', 'BEARER ABC'), false);
    assert.equal(full('(?i:bearer) [a-z]+', 'BeArEr abc'), true);
  });

  it('a value longer than REGEX_MAX_INPUT_LENGTH does not match, on either engine', () => {
    for (const pattern of ['a*', '(a|b)*']) {
      const m = compileFullMatch(pattern);
      assert.equal(m.test('a'.repeat(REGEX_MAX_INPUT_LENGTH)), true, `${pattern} (${m.engine}) at the limit`);
      assert.equal(m.test('a'.repeat(REGEX_MAX_INPUT_LENGTH + 1)), false, `${pattern} (${m.engine}) past the limit`);
    }
  });
});

describe('route regexes: what is refused, and why', () => {
  const cases: [string, RegExp][] = [
    ['(a)\\1', /uses a backreference \(\\1\), which RE2 syntax does not have/],
    ['(?<n>a)\\k<n>', /uses a named backreference/],
    ['/api(?=/v1)', /uses a lookahead \(\?=\.\.\.\)/],
    ['/api(?!/admin).*', /uses a negative lookahead/],
    ['(?<=x)y', /uses a lookbehind/],
    ['(?<!x)y', /uses a negative lookbehind/],
    ['/v([0-9', /does not compile \(RE2 syntax\): missing closing \]/],
    ['/v([0-9]+', /does not compile \(RE2 syntax\): missing closing \)/],
    ['*x', /missing argument to repetition operator/],
    ['\\u0041', /invalid escape sequence: `\\u`/],
    ['a{1001}', /invalid repeat count/],
    ['.{0,1000}', new RegExp(`is too large: its RE2 program has 2002 instructions, above the limit of ${REGEX_MAX_PROGRAM_SIZE}`)],
  ];
  for (const [pattern, why] of cases) {
    it(`${pattern}`, () => {
      assert.match(regexError(pattern) ?? 'accepted', why);
      assert.throws(() => compileFullMatch(pattern), why);
    });
  }

  it('escaped backslashes and classes are not taken for backreferences or lookarounds', () => {
    assert.equal(regexError('\\\\1'), undefined);
    assert.equal(full('\\\\1', '\\1'), true);
    assert.equal(regexError('[(?=]+'), undefined);
    assert.equal(full('[(?=]+', '(?='), true);
  });
});

describe('route regexes: the patterns that froze V8', () => {
  // Each took seconds to minutes with V8 on these lengths (docs/benchmarks.md); the linear engine needs micro- to milliseconds.
  const attacks: [string, string, boolean][] = [
    ['(a|a)*', `${'a'.repeat(30)}b`, false],
    ['/.*.*.*.*.*x', `/${'a'.repeat(400)}`, false],
    ['(a|aa)*', `${'a'.repeat(40)}b`, false],
    ['(\\w|\\d)*', `${'1'.repeat(30)}!`, false],
    ['(a+)+$', `${'a'.repeat(40)}!`, false],
    ['(.*a){30}', 'a'.repeat(60), true],
  ];
  for (const [pattern, input, matches] of attacks) {
    it(`${pattern} is accepted, runs on RE2, and answers in linear time`, () => {
      assert.equal(regexError(pattern), undefined);
      const m = compileFullMatch(pattern);
      assert.equal(m.engine, 're2', 'the V8 fast path must not take it');
      // The same shape at the longest value matched: the last character kept, the middle repeated.
      const long = input.slice(0, -1).padEnd(REGEX_MAX_INPUT_LENGTH - 1, input[1]) + input.at(-1)!;
      const started = performance.now();
      const answers = [m.test(input), m.test(long)];
      const ms = performance.now() - started;
      // Generous: a busy 2-core machine; V8 took 15 s and more for the short input alone.
      assert.ok(ms < 1_000, `${pattern}: ${ms.toFixed(1)} ms for ${input.length} and ${long.length} characters`);
      assert.deepEqual(answers, [matches, matches]);
    });
  }
});

/** A small deterministic generator (the tests must not change from run to run). */
function lcg(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

describe('route regexes: the V8 fast path', () => {
  it('takes the usual route shapes and only patterns it can prove linear', () => {
    for (const p of ['/api/v[0-9]+/items/[^/]+', 'Bearer [A-Za-z0-9._-]+', '^/users/[0-9]+$', '/users/.*', '[0-9a-f]{8}-[0-9a-f]{4}', '\\d+\\.\\d+', 'x{2,3}?y', '[^/]+/[^/]+']) {
      assert.equal(compileFullMatch(p).engine, 'v8', p);
    }
    // Overlapping neighbours (the loop could give back what the rest takes), groups, alternation, flags: RE2.
    for (const p of ['a*b*a', '/.*x', '[a-z]*[a-z0-9]', '[0-9]{1,3}[0-9]', '/(v1|v2)/x', '(?i)abc', '\\bword', '[]a]+', '.*.*']) {
      assert.equal(compileFullMatch(p).engine, 're2', p);
    }
  });

  it('matches exactly what RE2 matches, on generated patterns of its subset and generated values', () => {
    const rnd = lcg(13);
    const atoms = ['a', 'b', '/', '-', '.', '\\.', '\\/', '\\d', '\\D', '\\w', '\\W', '\\s', '\\S', '[a-c]', '[^/]', '[^a]', '[0-9a-f]', '[-a]', '[b-]', '[\\d_]', '[^\\s]', 'é', '😀', '[😀-😂]'];
    const quantifiers = ['', '', '', '*', '+', '?', '{2}', '{1,3}', '{2,}', '*?', '+?', '??', '{0,2}?'];
    const alphabet = ['a', 'b', 'c', '/', '-', '.', '_', '0', '7', 'f', ' ', '\t', '\n', '\v', 'é', '😀', '😁', '\u00a0', '\ud800'];
    let fastPatterns = 0;
    let checked = 0;
    for (let k = 0; k < 3000 && fastPatterns < 400; k++) {
      let pattern = rnd(4) === 0 ? '^' : '';
      for (let n = 1 + rnd(5); n > 0; n--) pattern += atoms[rnd(atoms.length)]! + quantifiers[rnd(quantifiers.length)]!;
      if (rnd(4) === 0) pattern += '$';
      const m = compileFullMatch(pattern);
      if (m.engine !== 'v8') continue;
      fastPatterns++;
      const re2 = RE2JS.compile(pattern);
      for (let v = 0; v < 60; v++) {
        let value = '';
        for (let n = rnd(8); n > 0; n--) value += alphabet[rnd(alphabet.length)]!;
        assert.equal(m.test(value), re2.testExact(value), `${pattern} on ${JSON.stringify(value)}`);
        checked++;
      }
    }
    assert.ok(fastPatterns >= 400, `only ${fastPatterns} generated patterns were in the subset`);
    console.log(`${fastPatterns} fast-path patterns, ${checked} values: V8 and RE2 agree`);
  });

  it('stays linear on values built to make it give back and retry, at the length cap', () => {
    const n = REGEX_MAX_INPUT_LENGTH;
    const cases: [string, string][] = [
      ['[^/]+/[^/]+', `${'a'.repeat(n / 2)}/${'b'.repeat(n / 2 - 2)}/`],
      ['[^/]+/[^/]+', `${'😀'.repeat(n / 2 - 1)}x`],
      ['/users/.*', `/users/${'\ud800'.repeat(n - 8)}\n`],
      ['a*b*c*d*e*f*', `${'abcdef'.repeat(n / 6 - 1)}a`],
      ['[a-z]+-[0-9]+-[a-z]+-[0-9]+', 'ab-12-'.repeat(n / 6 - 1)],
      ['\\S+\\s+\\S+', `${'x'.repeat(n / 2)}${' '.repeat(n / 2)}`],
      ['x*?y*?z', `${'xy'.repeat(n / 2 - 1)}xq`],
    ];
    for (const [pattern, value] of cases) {
      const m = compileFullMatch(pattern);
      assert.equal(m.engine, 'v8', pattern);
      assert.ok(value.length <= n, `${pattern}: the value must be within the cap`);
      const started = performance.now();
      const answer = m.test(value);
      const ms = performance.now() - started;
      assert.equal(answer, false, pattern);
      // Backtracking that were not linear would take seconds here (V8 on `(a|a)*` doubles per character).
      assert.ok(ms < 500, `${pattern}: ${ms.toFixed(1)} ms on ${value.length} characters`);
    }
  });

  it('values the generator rarely builds: each pattern on values made of its own pieces', () => {
    const cases: [string, string[]][] = [
      ['/api/v[0-9]+/items/[^/]+', ['/api/v1/items/x', '/api/v12/items/a-b_c', '/api/v/items/x', '/api/v1/items/', '/api/v1/items/x/y', '/api/v1/items/😀']],
      ['Bearer [A-Za-z0-9._-]+', ['Bearer abc.def-ghi_123', 'Bearer ', 'bearer abc', 'Bearer a b']],
      ['[^/]+/[^/]+', ['a/b', 'a//b', '/b', 'a\n/b']],
      ['a{2,}?b', ['aab', 'ab', 'aaaab']],
    ];
    for (const [pattern, values] of cases) {
      const m = compileFullMatch(pattern);
      assert.equal(m.engine, 'v8', pattern);
      const re2 = RE2JS.compile(pattern);
      for (const v of values) assert.equal(m.test(v), re2.testExact(v), `${pattern} on ${JSON.stringify(v)}`);
    }
  });
});

describe('route regexes: ordinary patterns route as they did with V8', () => {
  // What the control plane accepted before (V8 syntax, safe-regex2) and RE2 reads the same way, on ASCII values like paths and tokens.
  const patterns = [
    '/api/v[0-9]+/items/[^/]+',
    '/users/[0-9]+',
    '/users/.*',
    'admin-[a-z]+',
    '/v(1|2)/.*',
    '/(api|internal)/[a-z]+(/[0-9]+)?',
    'Bearer [A-Za-z0-9._~+/-]+=*',
    '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
    '(?:canary|beta)',
    '\\d{1,3}(\\.\\d{1,3}){3}',
    '.*\\.(css|js|png)',
    '/static/[^?]*',
    '[a-z]+=[^&]*(&[a-z]+=[^&]*)*',
  ];
  it('same answer as the former `new RegExp(^(?:p)$)` on generated ASCII values', () => {
    const rnd = lcg(7);
    const pieces = [
      '/',
      'api',
      'v1',
      'v2',
      'v10',
      'users',
      'items',
      '42',
      'x',
      'admin-',
      'abc',
      'Bearer ',
      '.',
      'css',
      'js',
      '-',
      '_',
      'beta',
      'canary',
      'internal',
      '=',
      '&',
      '?',
      'deadbeef',
      '0',
      '1',
      '255',
      ' ',
    ];
    let checked = 0;
    for (const p of patterns) {
      const before = new RegExp(`^(?:${p})$`);
      const after = compileFullMatch(p);
      const values = new Set<string>();
      for (let v = 0; v < 400; v++) {
        let value = '';
        for (let n = rnd(7); n > 0; n--) value += pieces[rnd(pieces.length)]!;
        values.add(value);
      }
      for (const v of values) {
        assert.equal(after.test(v), before.test(v), `${p} (${after.engine}) on ${JSON.stringify(v)}`);
        checked++;
      }
    }
    assert.ok(checked > 2_000);
  });

  it('and on values written to match each of them', () => {
    const matching: [string, string][] = [
      ['/api/v[0-9]+/items/[^/]+', '/api/v2/items/abc-123'],
      ['/users/[0-9]+', '/users/42'],
      ['/users/.*', '/users/me/settings'],
      ['admin-[a-z]+', 'admin-alice'],
      ['/v(1|2)/.*', '/v2/items'],
      ['/(api|internal)/[a-z]+(/[0-9]+)?', '/internal/jobs/7'],
      ['Bearer [A-Za-z0-9._~+/-]+=*', 'Bearer eyJh.bGc~i+/-x=='],
      ['[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '123e4567-e89b-12d3-a456-426614174000'],
      ['(?:canary|beta)', 'beta'],
      ['\\d{1,3}(\\.\\d{1,3}){3}', '10.0.0.255'],
      ['.*\\.(css|js|png)', '/static/site.min.css'],
      ['/static/[^?]*', '/static/a/b.png'],
      ['[a-z]+=[^&]*(&[a-z]+=[^&]*)*', 'a=1&b=&c=x'],
    ];
    assert.deepEqual(
      matching.map(([p]) => p),
      patterns,
    );
    for (const [p, v] of matching) {
      assert.equal(new RegExp(`^(?:${p})$`).test(v), true, `V8 ${p}`);
      assert.equal(compileFullMatch(p).test(v), true, `RE2 engine ${p}`);
    }
  });
});
