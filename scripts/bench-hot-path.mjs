#!/usr/bin/env node
// Before/after of the client hot path: the first three sections of `npm run bench` (plain overhead, mTLS,
// full client stack) for each checkout given, in turn, in this process tree. Each checkout must hold a
// build (`npm run build`), e.g. a `git worktree add` of the old commit.
//
//   node scripts/bench-hot-path.mjs [--repeat 2] [--rounds 5] [--ms 3000] <checkout> [<checkout> ...]
//
// Why a ratio per round: on a shared 2-vCPU machine one round's throughput moves by +-20 % with whatever
// else runs, and the baseline and the mesh of one round (run back to back) see the same drift, so the
// median of the per-round ratios is steadier than the ratio of two medians.
import console from 'node:console';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opts = { repeat: 2, rounds: 5, durationMs: 3000, concurrency: 32, rate: 2000 };
const dirs = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--repeat') opts.repeat = Number(args[++i]);
  else if (a === '--rounds') opts.rounds = Number(args[++i]);
  else if (a === '--ms') opts.durationMs = Number(args[++i]);
  else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
  else dirs.push(path.resolve(a));
}
if (dirs.length === 0 || ![opts.repeat, opts.rounds, opts.durationMs].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('usage: node scripts/bench-hot-path.mjs [--repeat N] [--rounds N] [--ms N] <checkout> [<checkout> ...]');
  process.exit(2);
}

const PAIRS = {
  overhead: [
    ['mesh.request', 'undici Pool.request'],
    ['mesh.fetch', 'undici.fetch'],
  ],
  mtls: [['mesh.request (mTLS)', 'undici Pool.request (TLS)']],
  clientStack: [
    ['full client stack', 'skeleton: balance -> transport'],
    ['full stack + timeouts', 'skeleton: balance -> transport'],
  ],
};
const MODULES = { overhead: 'overhead.js', mtls: 'mtls.js', clientStack: 'client-stack.js' };

// The bench functions print one line per round and target on stderr; those lines are the data.
const rounds = [];
const write = process.stderr.write.bind(process.stderr);
process.stderr.write = (chunk, ...rest) => {
  const m = /round (\d+)\/\d+ (.+?)\s+(\d+) req\/s/.exec(String(chunk));
  if (m) rounds.push({ round: Number(m[1]), name: m[2].trim(), rps: Number(m[3]) });
  return write(chunk, ...rest);
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
for (let rep = 1; rep <= opts.repeat; rep++) {
  for (const dir of dirs) {
    for (const [fn, file] of Object.entries(MODULES)) {
      const mod = await import(pathToFileURL(path.join(dir, 'build/bench', file)).href);
      rounds.length = 0;
      await mod[fn](opts);
      for (const [mesh, base] of PAIRS[fn]) {
        const ratios = [];
        for (let r = 1; r <= opts.rounds; r++) {
          const m = rounds.find((x) => x.round === r && x.name === mesh);
          const b = rounds.find((x) => x.round === r && x.name === base);
          if (m && b && b.rps > 0) ratios.push(m.rps / b.rps);
        }
        results.push({ rep, dir, mesh, base, median: median(ratios), ratios });
      }
    }
  }
}
console.log('\nper checkout and repeat: median of per-round ratios (mesh / baseline of the same round), then each round');
for (const r of results) {
  console.log(`${String(r.rep).padStart(2)} ${r.dir.padEnd(24)} ${r.mesh.padEnd(22)} ${r.median.toFixed(3)}x  ${r.ratios.map((x) => x.toFixed(2)).join(' ')}`);
}
process.exit(0);
