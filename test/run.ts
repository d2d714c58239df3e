/**
 * `npm test` runs this after build, lint and depcheck: every compiled *.test.js
 * under build/test, on Node's own runner. Integration tests start real
 * processes; one file more than the cores at a time (see below), the longest
 * first (test/file-seconds.json).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from 'node:test';
import * as reporters from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

function find(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

// `sub` takes the files whose path contains it; `!sub` leaves those out (CI's other Node lines skip what
// the system Node's run already covers, to stay within the run's time).
const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('!'));
const excluded = args.filter((a) => a.startsWith('!')).map((a) => a.slice(1));
const found = find(root).filter((f) => (filters.length === 0 || filters.some((s) => f.includes(s))) && !excluded.some((s) => f.includes(s)));
if (found.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

// The longest files first. `node --test` sorts its files by path, and a minute-long file that the path order
// starts in the last minute of a run makes the run a minute longer: in CI's suite (one file more than the cores
// at a time) the path order ended with the scenarios and examples, the longest of all. The figures are each
// file's seconds from an earlier run (HYPHAE_TEST_TIMINGS, below); a file without one counts as short.
const known = readSeconds(path.join(root, '../../test/file-seconds.json'));
const name = (f: string) => path.relative(root, f).replace(/\.js$/, '.ts');
const files = found
  .map((f) => ({ f, s: known[name(f)] ?? 0 }))
  .sort((a, b) => b.s - a.s || (a.f < b.f ? -1 : 1))
  .map((x) => x.f);

// One file more than the cores: most files wait on their children, timers and load at a fixed rate, and with one
// per core the whole run used 134 % of 2 cores (16 min 21 s, /usr/bin/time, 2026-12-06). The suite holds with two
// CPU-bound processes beside it (scripts/cpu-hog.mjs), so a third file is well inside what it is proved to bear.
const concurrency = Number(process.env.HYPHAE_TEST_CONCURRENCY ?? os.availableParallelism() + 1);
const reporterName = process.env.HYPHAE_TEST_REPORTER ?? 'spec';
const reporter = (reporters as unknown as Record<string, unknown>)[reporterName];
if (typeof reporter !== 'function' && typeof reporter !== 'object') {
  console.error(`HYPHAE_TEST_REPORTER=${reporterName}: not one of Node's reporters (${Object.keys(reporters).join(', ')})`);
  process.exit(1);
}
// Meshes keep a fail-static discovery cache under $XDG_CACHE_HOME: one fresh directory per run, so that
// runs never see each other's snapshots (control planes on reused ports) and nothing is left behind.
const cacheHome = mkdtempSync(path.join(os.tmpdir(), 'hyphae-test-cache-'));
process.on('exit', () => rmSync(cacheHome, { recursive: true, force: true }));
process.env.XDG_CACHE_HOME = cacheHome;
// Node 22.1+ (ignored by 20): every test file and every child it starts compiles the same modules; one
// compile cache for the run, beside the discovery caches, compiles them once.
process.env.NODE_COMPILE_CACHE ??= path.join(cacheHome, 'node-compile-cache');

// run() keeps the order it is given (the CLI does not); the files run in child processes as under `node --test`.
const stream = run({ files, concurrency });
const seconds: Record<string, number> = {};
type Ended = { nesting: number; file?: string; details: { duration_ms: number } };
const count = (d: Ended) => {
  if (d.nesting === 0 && d.file) seconds[name(d.file)] = (seconds[name(d.file)] ?? 0) + d.details.duration_ms / 1000;
};
stream.on('test:pass', count);
stream.on('test:fail', (d: Ended) => {
  count(d);
  if (d.nesting === 0) process.exitCode = 1;
});
// HYPHAE_TEST_TIMINGS=<file>: each file's seconds (its top-level tests' together), for test/file-seconds.json.
const timings = process.env.HYPHAE_TEST_TIMINGS;
if (timings) {
  stream.on('end', () => {
    const rounded = Object.fromEntries(
      Object.entries(seconds)
        .map(([k, v]) => [k, Math.round(v)])
        .sort(([, a], [, b]) => Number(b) - Number(a)),
    );
    writeFileSync(timings, `${JSON.stringify(rounded, null, 2)}\n`);
  });
}
stream.compose(reporter as Parameters<typeof stream.compose>[0]).pipe(process.stdout);

function readSeconds(file: string): Record<string, number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // No figures: the path order.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  const figures = JSON.parse(text) as unknown;
  if (typeof figures !== 'object' || figures === null || Object.values(figures).some((v) => typeof v !== 'number')) {
    throw new Error(`${file}: expected {"<path under test/>": <seconds>, ...}`);
  }
  return figures as Record<string, number>;
}
