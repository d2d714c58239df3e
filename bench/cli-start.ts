/**
 * The CLI's start cost: CPU (user + sys, from /usr/bin/time) and wall time of short `hyphae` commands, with
 * a bare `node -e 0` as the floor in the same run, and optionally another build of hyphae (--baseline <its
 * build dir>, e.g. main's) to compare with. Round by round, every row runs once in turn, so that the
 * machine's drift hits all rows alike; medians of the rounds.
 *
 *   node build/bench/cli-start.js [--runs 6] [--baseline /work/main/build]
 *
 * The commands: `--help`, and `get services` against a port nothing listens on (the whole of a read
 * command's start and a failed connection, with no control plane to add noise of its own).
 */
import { execFile } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildDir } from '../examples/lib/child.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '6' }, baseline: { type: 'string' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error(`--runs must be 1..50, got ${values.runs}`);

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Sample {
  cpuMs: number;
  wallMs: number;
}

/** One process under /usr/bin/time; its exit code is not judged (a failed connection exits 1 on purpose). */
function timed(args: string[]): Promise<Sample> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/time', ['-f', 'TIME %e %U %S', process.execPath, ...args], { timeout: 30_000 }, (err, _stdout, stderr) => {
      const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
      if (!m) return reject(new Error(`no timing from ${args.join(' ')}: ${err?.message ?? ''} ${stderr.slice(-300)}`));
      resolve({ wallMs: Number(m[1]) * 1000, cpuMs: (Number(m[2]) + Number(m[3])) * 1000 });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const url = `http://127.0.0.1:${await closedPort()}`;
const builds: [string, string][] = [['this build', buildDir], ...(values.baseline ? ([['baseline', path.resolve(values.baseline)]] as [string, string][]) : [])];
const commands: [string, string[]][] = [
  ['--help', ['--help']],
  ['get services, closed port', ['get', 'services', '--control-plane', url]],
];
const rows: { name: string; args: string[]; samples: Sample[] }[] = [{ name: 'node -e 0', args: ['-e', '0'], samples: [] }];
for (const [command, args] of commands) {
  for (const [build, dir] of builds) rows.push({ name: `${command} (${build})`, args: [path.join(dir, 'src/cli/main.js'), ...args], samples: [] });
}

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(`${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, Node ${process.version}; load ${load()} at the start`);
// One unmeasured round first: the OS file cache (and Node 22+'s compile cache) warm for every row alike.
for (const row of rows) await timed(row.args);
for (let i = 0; i < runs; i++) for (const row of rows) row.samples.push(await timed(row.args));
console.log(`load ${load()} at the end; ${runs} rounds, medians\n`);
console.log(`${'row'.padEnd(44)}  cpu ms  wall ms`);
for (const row of rows) {
  console.log(
    `${row.name.padEnd(44)}  ${median(row.samples.map((s) => s.cpuMs))
      .toFixed(0)
      .padStart(6)}  ${median(row.samples.map((s) => s.wallMs))
      .toFixed(0)
      .padStart(7)}`,
  );
}
if (values.baseline) {
  console.log('');
  for (const [command] of commands) {
    const mine = rows.find((r) => r.name === `${command} (this build)`)!;
    const base = rows.find((r) => r.name === `${command} (baseline)`)!;
    const ratio = (f: (s: Sample) => number) => (median(mine.samples.map(f)) / median(base.samples.map(f))).toFixed(2);
    console.log(`${command}: this build / baseline: cpu ${ratio((s) => s.cpuMs)}x, wall ${ratio((s) => s.wallMs)}x`);
  }
}
