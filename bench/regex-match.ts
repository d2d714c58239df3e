/**
 * Route regexes, in-process: ns per route match, and the attack inputs.
 *
 * A route match with a RegularExpression path and a RegularExpression header
 * (the predicates src/client/routing/matchers.ts compiles, on real MeshCall
 * objects; paths of 20-60 characters, half of them matching), run by:
 * - `v8 (before)`: V8's backtracking RegExp, `^(?:p)$`, as before issue 13;
 * - `re2js only`: every regex on re2js;
 * - `hyphae (after)`: config/regex.ts as shipped (the V8 fast path where it
 *   proves the pattern linear, re2js otherwise).
 * Two routes: one whose patterns the fast path takes, one whose patterns it
 * leaves to RE2 (alternations).
 *
 * Then the patterns that froze V8, on the linear engine: the first match
 * (compiles the DFA states) and the median of repeated matches, at the
 * issue's input lengths and at the 8 KiB cap. V8 is not run on those (the
 * issue measured 55 s and 104 s; bench would not finish).
 *
 *   node build/bench/regex-match.js [--rounds 7] [--matches 200000]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { RE2JS } from 're2js';
import { MeshCall } from '../src/client/call/mesh-call.js';
import { compileMatch } from '../src/client/logical/routing/matchers.js';
import { compileFullMatch, REGEX_MAX_INPUT_LENGTH } from '../src/config/regex.js';
import { routeMatchSchema } from '../src/config/resources.js';
import { median } from './lib/load.js';

export interface RegexRouteRow {
  route: string;
  engine: string;
  nsPerMatch: number;
  rounds: number[];
}

export interface RegexAttackRow {
  pattern: string;
  length: number;
  engine: string;
  firstUs: number;
  medianUs: number;
}

const ROUTES = [
  { name: 'fast-path shapes', path: '/api/v[0-9]+/items/[^/]+', header: 'Bearer [A-Za-z0-9._-]+' },
  { name: 'RE2 shapes', path: '/api/(v1|v2|v3)/items/[^/]+', header: '(?:Bearer|Basic) [A-Za-z0-9._~+/=-]+' },
];

const PATHS = [
  '/api/v1/items/12345',
  '/api/v2/items/8f14e45f-ceea-467f-a8a7-5a5e5a2d6b3c',
  '/api/v3/items/sku-000981-blue',
  '/api/v1/items/12345/reviews',
  '/static/css/site.min.css',
  '/api/v2/users/42/preferences',
  '/healthz/ready/with/a/longer/path',
  '/api/v1/items/a',
];
const TOKENS = ['Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_x', 'Bearer abc.def', 'Basic dXNlcjpwYXNzd29yZA==', 'bearer lower.case'];

type Engine = (pattern: string) => { test(value: string): boolean };
const ENGINES: [string, Engine][] = [
  ['v8 (before)', (p) => new RegExp(`^(?:${p})$`)],
  [
    're2js only',
    (p) => {
      const re = RE2JS.compile(p);
      return { test: (v) => re.testExact(v) };
    },
  ],
  ['hyphae (after)', compileFullMatch],
];

/** The predicates of a match, as matchers.ts builds them, with the regex engine swapped for the before/re2js variants. */
function predicatesFor(route: (typeof ROUTES)[number], engine: string, make: Engine): ((c: MeshCall) => boolean)[] {
  if (engine === 'hyphae (after)') {
    const m = routeMatchSchema.parse({ path: { type: 'RegularExpression', value: route.path }, headers: [{ type: 'RegularExpression', name: 'authorization', value: route.header }] });
    return compileMatch(m).predicates;
  }
  const path = make(route.path);
  const header = make(route.header);
  return [
    (c) => path.test(c.pathname),
    (c) => {
      const v = c.header('authorization');
      return v !== undefined && header.test(v);
    },
  ];
}

function calls(): MeshCall[] {
  const out: MeshCall[] = [];
  for (let i = 0; i < 64; i++) {
    const c = new MeshCall(
      { name: 'api', namespace: 'default' },
      { origin: 'http://api', method: 'GET', path: `${PATHS[i % PATHS.length]!}?page=${i}`, headers: { accept: 'application/json', authorization: TOKENS[i % TOKENS.length]! } },
      {},
    );
    void c.pathname; // cached, as it is by the time routing runs
    out.push(c);
  }
  return out;
}

function timeRoute(predicates: ((c: MeshCall) => boolean)[], cs: MeshCall[], n: number): { ns: number; matched: number } {
  let matched = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const c = cs[i & 63]!;
    let all = true;
    for (let k = 0; k < predicates.length; k++) {
      if (!predicates[k]!(c)) {
        all = false;
        break;
      }
    }
    if (all) matched++;
  }
  return { ns: Number(process.hrtime.bigint() - started) / n, matched };
}

export function regexRoutes({ rounds, matches }: { rounds: number; matches: number }): RegexRouteRow[] {
  const cs = calls();
  const variants = ROUTES.flatMap((r) => ENGINES.map(([engine, make]) => ({ route: r.name, engine, predicates: predicatesFor(r, engine, make) })));
  const expected = new Map<string, number>();
  for (const v of variants) {
    const { matched } = timeRoute(v.predicates, cs, 64 * 500); // warm-up, and the engines must agree
    const seen = expected.get(v.route);
    if (seen === undefined) expected.set(v.route, matched);
    else if (seen !== matched) throw new Error(`${v.route}: ${v.engine} matched ${matched} calls, v8 ${seen}`);
  }
  const results = new Map(variants.map((v) => [`${v.route}/${v.engine}`, [] as number[]]));
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 ? [...variants].reverse() : variants) results.get(`${v.route}/${v.engine}`)!.push(timeRoute(v.predicates, cs, matches).ns);
  }
  return variants.map((v) => {
    const xs = results.get(`${v.route}/${v.engine}`)!;
    return { route: v.route, engine: v.engine, nsPerMatch: median(xs), rounds: xs };
  });
}

export function regexAttacks(): RegexAttackRow[] {
  const attacks: [string, string][] = [
    ['(a|a)*', `${'a'.repeat(30)}b`],
    ['/.*.*.*.*.*x', `/${'a'.repeat(400)}`],
    ['(a|aa)*', `${'a'.repeat(40)}b`],
    ['(\\w|\\d)*', `${'1'.repeat(30)}!`],
  ];
  const rows: RegexAttackRow[] = [];
  for (const [pattern, input] of attacks) {
    for (const value of [input, input.slice(0, -1).padEnd(REGEX_MAX_INPUT_LENGTH - 1, input[1]) + input.at(-1)!]) {
      const m = compileFullMatch(pattern);
      let t = performance.now();
      m.test(value);
      const firstUs = (performance.now() - t) * 1000;
      const xs: number[] = [];
      for (let i = 0; i < 21; i++) {
        t = performance.now();
        m.test(value);
        xs.push((performance.now() - t) * 1000);
      }
      rows.push({ pattern, length: value.length, engine: m.engine, firstUs, medianUs: median(xs) });
    }
  }
  return rows;
}

export function printRegexRows(routes: RegexRouteRow[], attacks: RegexAttackRow[]): void {
  console.log(`${'route (path + header regex)'.padEnd(22)}${'engine'.padEnd(18)}${'ns/match'.padStart(10)}   vs v8 (before)`);
  for (const r of routes) {
    const before = routes.find((x) => x.route === r.route && x.engine === 'v8 (before)')!;
    console.log(`${r.route.padEnd(22)}${r.engine.padEnd(18)}${r.nsPerMatch.toFixed(0).padStart(10)}   ${r.engine === before.engine ? '' : `+${(r.nsPerMatch - before.nsPerMatch).toFixed(0)} ns`}`);
  }
  console.log(`\n${'attack pattern'.padEnd(16)}${'input'.padStart(7)}  ${'engine'.padEnd(7)}${'first µs'.padStart(10)}${'median µs'.padStart(11)}`);
  for (const a of attacks) console.log(`${a.pattern.padEnd(16)}${String(a.length).padStart(7)}  ${a.engine.padEnd(7)}${a.firstUs.toFixed(1).padStart(10)}${a.medianUs.toFixed(1).padStart(11)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, matches: { type: 'string', default: '200000' } } });
  const routes = regexRoutes({ rounds: Number(values.rounds), matches: Number(values.matches) });
  printRegexRows(routes, regexAttacks());
}
