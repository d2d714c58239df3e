/**
 * What a meshed SERVER process holds beyond a plain one (issue 15's added RSS,
 * the serving side; bench/rss.ts and bench:sidecar measure the calling side).
 * Fresh child processes (bench/lib/server-memory-peer.ts): a plain `node:http`
 * server, and the same handler behind createMesh + wrapServer registered with a
 * real control plane (a child process); each serves `--requests` requests (32
 * keep-alive connections, raw undici from this process, so the client is the
 * same), and reports its memory after two full GCs when it has started, when
 * it listens, and after the requests. One more meshed run lists the ES modules
 * it loaded (bench/lib/rss-register.ts), by package and by folder of ours.
 *
 *   node build/bench/server-memory.js [--runs 3] [--requests 5000] [--concurrency 32]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { buildDir, startCommand, type Child } from '../examples/lib/child.js';
import { startFileControlPlane } from './lib/control-planes.js';
import { median } from './lib/load.js';

const MiB = 2 ** 20;
const peer = path.join(buildDir, 'bench/lib/server-memory-peer.js');
const hooks = path.join(buildDir, 'bench/lib/rss-register.js');

interface Sample {
  stage: string;
  rss: number;
  heapUsed: number;
  external: number;
  spaces: Record<string, { size: number; used: number }>;
  modules: string[];
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    requests: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '32' },
  },
});
const runs = Number(values.runs);
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

async function serve(port: string): Promise<void> {
  const origin = `http://127.0.0.1:${port}`;
  const pool = new Pool(origin, { pipelining: 1 });
  let left = requests;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (left-- > 0) {
          const r = await pool.request({ origin, path: '/', method: 'GET' });
          await r.body.dump();
          if (r.statusCode !== 200) throw new Error(`${origin} answered ${r.statusCode}`);
        }
      }),
    );
  } finally {
    await pool.close();
  }
}

/** One peer from start to its last sample; every stage's sample, in order. */
async function runPeer(mode: 'plain' | 'mesh', env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<Sample[]> {
  const child: Child = startCommand(process.execPath, ['--expose-gc', ...nodeArgs, peer, mode], env, peer);
  try {
    const port = (await child.waitFor(/^listening (\d+)$/, 60_000))[1]!;
    await serve(port);
    child.proc.kill('SIGUSR2');
    await child.waitFor(/^memory-sample .*"stage":"after the requests"/, 30_000);
    return child.lines.filter((l) => l.startsWith('memory-sample ')).map((l) => JSON.parse(l.slice('memory-sample '.length)) as Sample);
  } finally {
    await child.kill('SIGTERM');
  }
}

const setup = await startFileControlPlane(false);
const scratch = await mkdtemp(path.join(os.tmpdir(), 'hyphae-server-memory-'));
try {
  const env = (i: number): NodeJS.ProcessEnv => ({
    HYPHAE_CONTROL_PLANE: setup.urls[0],
    HYPHAE_SERVICE: 'bench',
    // Each child starts cold: no discovery cache from an earlier one.
    XDG_CACHE_HOME: path.join(scratch, `cache-${i}`),
  });
  const plain: Sample[][] = [];
  const mesh: Sample[][] = [];
  // Interleaved, so that a change in the machine's load touches both alike.
  for (let r = 0; r < runs; r++) {
    plain.push(await runPeer('plain', {}));
    mesh.push(await runPeer('mesh', env(r)));
    process.stderr.write(`  run ${r + 1}/${runs}: plain ${(plain.at(-1)!.at(-1)!.rss / MiB).toFixed(1)} MiB, mesh ${(mesh.at(-1)!.at(-1)!.rss / MiB).toFixed(1)} MiB after the requests\n`);
  }
  const fmt = (x: number) => (x / MiB).toFixed(1);
  const row = (name: string, samples: Sample[][]) => {
    for (let i = 0; i < samples[0]!.length; i++) {
      const at = samples.map((s) => s[i]!);
      const space = (n: string) => fmt(median(at.map((s) => s.spaces[n]?.size ?? 0)));
      console.log(
        `${name.padEnd(6)} ${at[0]!.stage.padEnd(22)} rss ${fmt(median(at.map((s) => s.rss))).padStart(6)}  heapUsed ${fmt(median(at.map((s) => s.heapUsed))).padStart(5)}  ` +
          `new ${space('new_space')}  old ${space('old_space')}  code ${space('code_space')}  large ${space('large_object_space')}  external ${fmt(median(at.map((s) => s.external)))}`,
      );
    }
  };
  console.log(`server memory, median of ${runs} runs (MiB, after two full GCs):`);
  row('plain', plain);
  row('mesh', mesh);
  const last = (s: Sample[][]) => median(s.map((x) => x.at(-1)!.rss));
  const lastHeap = (s: Sample[][]) => median(s.map((x) => x.at(-1)!.heapUsed));
  console.log(`added by the mesh after ${requests} requests: RSS +${fmt(last(mesh) - last(plain))} MiB, heapUsed +${fmt(lastHeap(mesh) - lastHeap(plain))} MiB`);

  // The modules, from a run of their own: the hooks' worker thread would change the figures above.
  const modulesFile = path.join(scratch, 'modules.txt');
  const listed = await runPeer('mesh', { ...env(runs), RSS_MODULES_FILE: modulesFile }, ['--import', pathToFileURL(hooks).href]);
  const files = listed.at(-1)!.modules;
  const groups = new Map<string, { files: number; bytes: number }>();
  for (const f of files) {
    const nm = f.lastIndexOf('node_modules/');
    const key =
      nm >= 0
        ? f
            .slice(nm + 13)
            .split('/')
            .slice(0, f.slice(nm + 13).startsWith('@') ? 2 : 1)
            .join('/')
        : `hyphae ${path.relative(buildDir, f).split('/').slice(0, 2).join('/')}`;
    const g = groups.get(key) ?? { files: 0, bytes: 0 };
    g.files++;
    g.bytes += (await readFile(f)).length;
    groups.set(key, g);
  }
  console.log(`ES modules a meshed server loads (${files.length}):`);
  for (const [k, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes)) console.log(`  ${k.padEnd(28)} ${String(g.files).padStart(4)} files ${(g.bytes / 1024).toFixed(0).padStart(6)} KiB`);
} finally {
  await setup.stop();
  await rm(scratch, { recursive: true, force: true });
}
