#!/usr/bin/env node
// Runs a command while CPU-bound processes compete for the cores, to find tests that only pass on an idle
// machine (issue 14). The hogs are bounded twice: each exits by itself after --max, and the script kills
// them when the command ends, on a signal, or if it crashes.
//
//   node scripts/cpu-hog.mjs [--hogs 2] [--max 45m] [--node /path/to/node] [-- command args...]
//
// Without a command it runs the built suite (build/test/run.js) with --node (default: this node), so the
// suite's child processes (which use process.execPath) run on that node too. It prints the runner's
// counts (tests/pass/fail) at the end and exits with the command's status.
import { spawn } from 'node:child_process';
import console from 'node:console';
import process from 'node:process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const opts = { hogs: 2, maxMs: 45 * 60_000, node: process.execPath, command: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      opts.command = argv.slice(i + 1);
      break;
    } else if (a === '--hogs') opts.hogs = Number(argv[++i]);
    else if (a === '--max') opts.maxMs = duration(argv[++i]);
    else if (a === '--node') opts.node = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/cpu-hog.mjs [--hogs N] [--max 45m] [--node BIN] [-- command args...]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (!Number.isInteger(opts.hogs) || opts.hogs < 0 || opts.hogs > 16) throw new Error('--hogs: an integer 0..16');
  if (opts.command.length === 0) opts.command = [opts.node, path.join(root, 'build/test/run.js')];
  return opts;
}

function duration(v) {
  const m = /^(\d+)(ms|s|m)?$/.exec(v ?? '');
  if (!m) throw new Error(`--max: a duration like 90s or 45m, got ${v}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] ?? 'ms'];
}

// A hog spins until its own deadline: it needs no parent to stop it, so a killed script leaves nothing running.
const HOG = 'const end = Date.now() + Number(process.argv[1]); let x = 0; while (Date.now() < end) { for (let i = 0; i < 1e6; i++) x = (x * 31 + i) | 0; }';

const opts = parseArgs(process.argv.slice(2));
const hogs = [];
for (let i = 0; i < opts.hogs; i++) {
  hogs.push(spawn(process.execPath, ['-e', HOG, String(opts.maxMs)], { stdio: 'ignore' }));
}
const stopHogs = () => {
  for (const h of hogs) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
};
process.on('exit', stopHogs);

console.log(`== cpu-hog: ${opts.hogs} hog(s) for at most ${opts.maxMs / 1000}s; running ${opts.command.join(' ')}`);
const started = Date.now();
const counts = {};
const cmd = spawn(opts.command[0], opts.command.slice(1), { stdio: ['inherit', 'pipe', 'inherit'], cwd: root });
let pending = '';
cmd.stdout.on('data', (d) => {
  process.stdout.write(d);
  pending += d.toString();
  const lines = pending.split('\n');
  pending = lines.pop();
  for (const line of lines) {
    // Node's runner closes with "ℹ tests N", "ℹ pass N", "ℹ fail N", ... (spec reporter).
    const m = /^\S+ (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line.trim());
    if (m) counts[m[1]] = Number(m[2]);
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cmd.kill(sig);
    stopHogs();
  });
}
cmd.on('error', (err) => {
  console.error(`cpu-hog: cannot run ${opts.command[0]}: ${err.message}`);
  stopHogs();
  process.exit(127);
});
cmd.on('close', (code, signal) => {
  stopHogs();
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  const tally = ['tests', 'pass', 'fail', 'cancelled'].map((k) => `${k} ${counts[k] ?? '?'}`).join(' ');
  console.log(`== cpu-hog result: ${tally}; exit ${code ?? signal}; ${secs}s under ${opts.hogs} hog(s)`);
  process.exit(code ?? 1);
});
