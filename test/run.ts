/**
 * `npm test` runs this after build, lint and depcheck: every compiled *.test.js
 * under build/test, on Node's own runner. Integration tests start real
 * processes; one file more than the cores at a time (see below).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
// The runner sorts the files itself (by path) whatever order they are given in.
const files = find(root).filter((f) => (filters.length === 0 || filters.some((s) => f.includes(s))) && !excluded.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// One file more than the cores: most files wait on their children, timers and load at a fixed rate, and with one
// per core the whole run used 134 % of 2 cores (16 min 21 s, /usr/bin/time, 2026-12-06). The suite holds with two
// CPU-bound processes beside it (scripts/cpu-hog.mjs), so a third file is well inside what it is proved to bear.
const concurrency = process.env.HYPHAE_TEST_CONCURRENCY ?? String(os.availableParallelism() + 1);
const reporter = process.env.HYPHAE_TEST_REPORTER ?? 'spec';
// Meshes keep a fail-static discovery cache under $XDG_CACHE_HOME: one fresh directory per run, so that
// runs never see each other's snapshots (control planes on reused ports) and nothing is left behind.
const cacheHome = mkdtempSync(path.join(os.tmpdir(), 'hyphae-test-cache-'));
// Node 22.1+ (ignored by 20): every test file and every child it starts compiles the same modules; one
// compile cache for the run, beside the discovery caches, compiles them once.
const compileCache = path.join(cacheHome, 'node-compile-cache');
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, `--test-reporter=${reporter}`, ...files], {
  stdio: 'inherit',
  env: { ...process.env, XDG_CACHE_HOME: cacheHome, NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? compileCache },
});
rmSync(cacheHome, { recursive: true, force: true });
process.exit(r.status ?? 1);
