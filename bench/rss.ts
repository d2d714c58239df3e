/**
 * Where a meshed process's memory goes. Each measurement is a fresh child
 * process (bench/lib/rss-child.ts) that reports RSS and heapUsed after two full
 * GCs at each stage:
 *
 *   plain   undici imported -> N calls with undici.request to a plain Node server
 *   mesh    undici imported -> hyphae imported -> createMesh against a real control
 *           plane (a child process) -> N calls with mesh.request to a wrapped server
 *   import  undici imported -> one dependency imported (its own cost), for each of
 *           zod, node-forge, @opentelemetry/api, cockatiel, re2js, yaml
 *
 * plus, from one more mesh run with module hooks, the packages loaded at each
 * stage. Figures are medians over --runs children.
 *
 *   node --expose-gc build/bench/rss.js [--calls 5000] [--concurrency 32] [--runs 3] [--mtls] [--heap-snapshot FILE]
 *
 * --mtls: the control plane is https://, both ends meshed with STRICT mTLS (the plain
 * client still calls a plain server over HTTP, what the same app does without the mesh).
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { buildDir, startCommand, startNode, type Child } from '../examples/lib/child.js';
import { startFileControlPlane, type BenchSetup } from './lib/control-planes.js';

const MiB = 2 ** 20;
/** Issue 15: a meshed process may hold at most this much more than the same plain process after the calls. */
export const ADDED_RSS_TARGET_MIB = 15;
const PACKAGES = ['zod', 'node-forge', '@opentelemetry/api', 'cockatiel', 're2js', 'yaml'];
const childScript = path.join(buildDir, 'bench/lib/rss-child.js');
const hooksScript = path.join(buildDir, 'bench/lib/rss-register.js');

export interface RssOptions {
  calls: number;
  concurrency: number;
  runs: number;
  mtls: boolean;
  heapSnapshot?: string | undefined;
}

interface Sample {
  stage: string;
  rss: number;
  heapUsed: number;
  external: number;
  spaces: Record<string, { size: number; used: number }>;
  modules: string[];
}

export interface StageRow {
  process: string;
  stage: string;
  rssMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  /** V8 space sizes (MiB) of the median-RSS run: where the heap's pages are. */
  spacesMiB: Record<string, number>;
}

export interface RssResult {
  rows: StageRow[];
  packages: { name: string; rssMiB: number; heapUsedMiB: number }[];
  /** Packages loaded by the stage (first seen at it), with their file count and source size. */
  loaded: { stage: string; packages: { name: string; files: number; kib: number }[] }[];
  addedRssMiB: number;
  importCostMiB: number;
  pass: boolean;
}

async function runChild(args: string[], env: NodeJS.ProcessEnv, flags: string[] = []): Promise<Sample[]> {
  const child: Child = startCommand(process.execPath, ['--expose-gc', ...flags, childScript, ...args], env, childScript);
  const code = await Promise.race([
    child.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`rss child ${args.join(' ')} still running after 120 s:\n${child.lines.join('\n')}`)), 120_000).unref()),
  ]).catch(async (err: unknown) => {
    await child.kill('SIGKILL');
    throw err;
  });
  if (code !== 0) throw new Error(`rss child ${args.join(' ')} exited ${code}:\n${child.lines.join('\n')}`);
  return child.lines.filter((l) => l.startsWith('rss-sample ')).map((l) => JSON.parse(l.slice('rss-sample '.length)) as Sample);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The median of each stage over runs (the spaces of the run whose RSS is the median). */
function medianRows(processName: string, runs: Sample[][]): StageRow[] {
  return runs[0]!.map((first, i) => {
    const at = runs.map((r) => r[i]!).sort((a, b) => a.rss - b.rss);
    const mid = at[Math.floor(at.length / 2)]!;
    return {
      process: processName,
      stage: first.stage,
      rssMiB: mid.rss / MiB,
      heapUsedMiB: median(at.map((s) => s.heapUsed)) / MiB,
      externalMiB: median(at.map((s) => s.external)) / MiB,
      spacesMiB: Object.fromEntries(Object.entries(mid.spaces).map(([k, v]) => [k, v.size / MiB])),
    };
  });
}

function packageOf(file: string): string {
  const nm = file.lastIndexOf(`${path.sep}node_modules${path.sep}`);
  if (nm < 0) return file.startsWith(buildDir) ? 'hyphae (build/src)' : 'other';
  const parts = file.slice(nm + '/node_modules/'.length).split(path.sep);
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

async function loadedByStage(samples: Sample[]): Promise<RssResult['loaded']> {
  const seen = new Set<string>();
  const out: RssResult['loaded'] = [];
  for (const s of samples) {
    const fresh = s.modules.filter((f) => !seen.has(f) && f.startsWith('/') && !f.startsWith(path.join(buildDir, 'bench')));
    for (const f of fresh) seen.add(f);
    const byPackage = new Map<string, { files: number; bytes: number }>();
    for (const f of fresh) {
      const p = byPackage.get(packageOf(f)) ?? { files: 0, bytes: 0 };
      p.files++;
      p.bytes += (await stat(f).catch(() => ({ size: 0 }))).size;
      byPackage.set(packageOf(f), p);
    }
    out.push({
      stage: s.stage,
      packages: [...byPackage].map(([name, p]) => ({ name, files: p.files, kib: p.bytes / 1024 })).sort((a, b) => b.kib - a.kib),
    });
  }
  return out;
}

async function tokenFor(setup: BenchSetup, service: string): Promise<string> {
  const dispatcher = new Agent({ connect: { ca: setup.ca } });
  try {
    const res = await request(`${setup.urls[0]}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${setup.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service }),
      dispatcher,
    });
    const json = (await res.body.json()) as { token?: string };
    if (res.statusCode >= 300 || !json.token) throw new Error(`POST /v1/tokens answered ${res.statusCode}: ${JSON.stringify(json)}`);
    return json.token;
  } finally {
    await dispatcher.close();
  }
}

export async function rssBench(opts: RssOptions): Promise<RssResult> {
  const setup = await startFileControlPlane(opts.mtls);
  const children: Child[] = [];
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'hyphae-rss-'));
  try {
    const caFile = path.join(scratch, 'ca.pem');
    if (setup.ca) await writeFile(caFile, setup.ca);
    const meshEnv = async (service: string): Promise<NodeJS.ProcessEnv> => ({
      HYPHAE_CONTROL_PLANE: setup.urls[0],
      HYPHAE_SERVICE: service,
      // Each child starts cold: no discovery or identity cache from an earlier one.
      XDG_CACHE_HOME: path.join(scratch, 'cache'),
      ...(opts.mtls ? { HYPHAE_TOKEN: await tokenFor(setup, service), HYPHAE_CA_FILE: caFile } : {}),
    });
    const plainServer = startNode(path.join(buildDir, 'bench/lib/echo-server.js'));
    children.push(plainServer);
    const meshServer = startNode(path.join(buildDir, 'bench/lib/mtls-echo-server.js'), [], await meshEnv('bench'));
    children.push(meshServer);
    const plainPort = (await plainServer.waitFor(/listening (\d+)/))[1]!;
    await meshServer.waitFor(/listening (\d+)/);
    const n = [String(opts.calls), String(opts.concurrency)];
    const clientEnv = await meshEnv('rss-client');

    const plainRuns: Sample[][] = [];
    const meshRuns: Sample[][] = [];
    // Interleaved, so that a change in the machine's load touches both alike.
    for (let r = 0; r < opts.runs; r++) {
      plainRuns.push(await runChild(['plain', `http://127.0.0.1:${plainPort}/`, ...n], {}));
      const snapshot = r === 0 && opts.heapSnapshot ? { RSS_HEAP_SNAPSHOT: opts.heapSnapshot } : {};
      meshRuns.push(await runChild(['mesh', 'http://bench/', ...n], { ...clientEnv, ...snapshot }));
      process.stderr.write(`  run ${r + 1}/${opts.runs}: plain ${(plainRuns.at(-1)!.at(-1)!.rss / MiB).toFixed(1)} MiB, mesh ${(meshRuns.at(-1)!.at(-1)!.rss / MiB).toFixed(1)} MiB after the calls\n`);
    }
    const rows = [...medianRows('plain', plainRuns), ...medianRows('mesh', meshRuns)];

    const modulesFile = path.join(scratch, 'modules.txt');
    const listed = await runChild(['mesh', 'http://bench/', ...n], { ...clientEnv, RSS_MODULES_FILE: modulesFile }, ['--import', pathToFileURL(hooksScript).href]);
    const loaded = await loadedByStage(listed);

    const packages: RssResult['packages'] = [];
    for (const name of PACKAGES) {
      const runs: Sample[][] = [];
      for (let r = 0; r < opts.runs; r++) runs.push(await runChild(['import', name], {}));
      packages.push({
        name,
        rssMiB: median(runs.map((s) => s[1]!.rss - s[0]!.rss)) / MiB,
        heapUsedMiB: median(runs.map((s) => s[1]!.heapUsed - s[0]!.heapUsed)) / MiB,
      });
    }

    const at = (proc: string, stage: string) => rows.find((r) => r.process === proc && r.stage === stage)!;
    const last = `after ${opts.calls} calls`;
    const addedRssMiB = at('mesh', last).rssMiB - at('plain', last).rssMiB;
    const importCostMiB = at('mesh', 'hyphae imported').rssMiB - at('mesh', 'undici imported').rssMiB;
    return { rows, packages, loaded, addedRssMiB, importCostMiB, pass: addedRssMiB <= ADDED_RSS_TARGET_MIB };
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await setup.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

export function printRss(result: RssResult, opts: RssOptions): void {
  const f = (x: number) => x.toFixed(1).padStart(9);
  console.log(`memory per process (bench/rss): after two full GCs, median of ${opts.runs} children${opts.mtls ? ', mTLS' : ''}`);
  console.log(`${'process'.padEnd(8)}${'stage'.padEnd(22)}${'rss MiB'.padStart(9)}${'heap MiB'.padStart(9)}${'ext MiB'.padStart(9)}   V8 spaces (MiB): new, old, code, large objects`);
  for (const r of result.rows) {
    const s = r.spacesMiB;
    const spaces = ['new_space', 'old_space', 'code_space', 'large_object_space'].map((k) => (s[k] ?? 0).toFixed(1)).join(', ');
    console.log(`${r.process.padEnd(8)}${r.stage.padEnd(22)}${f(r.rssMiB)}${f(r.heapUsedMiB)}${f(r.externalMiB)}   ${spaces}`);
  }
  console.log('');
  console.log(`import hyphae over undici alone: +${result.importCostMiB.toFixed(1)} MiB RSS`);
  console.log(`added RSS after ${opts.calls} calls, mesh over plain: ${result.addedRssMiB.toFixed(1)} MiB (target <= ${ADDED_RSS_TARGET_MIB} MiB: ${result.pass ? 'PASS' : 'FAIL'})`);
  console.log('');
  console.log('one dependency imported over undici alone (RSS MiB, heapUsed MiB):');
  for (const p of result.packages) console.log(`  ${p.name.padEnd(22)}${f(p.rssMiB)}${f(p.heapUsedMiB)}`);
  console.log('');
  console.log('packages first loaded at each stage of the mesh process (files, KiB of source):');
  for (const s of result.loaded) {
    console.log(`  ${s.stage}: ${s.packages.map((p) => `${p.name} ${p.files}/${p.kib.toFixed(0)}`).join(', ') || '-'}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '5000' },
      concurrency: { type: 'string', default: '32' },
      runs: { type: 'string', default: '3' },
      mtls: { type: 'boolean', default: false },
      'heap-snapshot': { type: 'string' },
    },
  });
  const opts: RssOptions = {
    calls: Number(values.calls),
    concurrency: Number(values.concurrency),
    runs: Number(values.runs),
    mtls: values.mtls,
    heapSnapshot: values['heap-snapshot'] === undefined ? undefined : path.resolve(values['heap-snapshot']),
  };
  printRss(await rssBench(opts), opts);
}
