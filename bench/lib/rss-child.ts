/**
 * The process bench/rss.ts measures: it goes through stages and, after each,
 * prints one `rss-sample {json}` line with its memory after two full GCs
 * (`--expose-gc`), V8's heap spaces, and the modules loaded so far.
 *
 *   plain <url> <calls> <concurrency>   import undici; undici.request to a plain server
 *   mesh <url> <calls> <concurrency>    import undici; import hyphae; createMesh (HYPHAE_* variables); mesh.request
 *   import <package>                    import undici; import one package (its own cost)
 *
 * Modules: CommonJS ones from require.cache; ES modules only when bench/lib/rss-hooks.ts is
 * registered (RSS_MODULES_FILE names the file its hooks append every loaded URL to). The hooks
 * run a worker thread, so a run that lists ES modules is not the run whose RSS is reported.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

const here = path.dirname(fileURLToPath(import.meta.url));
const hyphae = path.resolve(here, '../../src/index.js');
const requireCache = createRequire(import.meta.url).cache;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

function modules(): string[] {
  const files = new Set(Object.keys(requireCache));
  const list = process.env.RSS_MODULES_FILE;
  if (list) {
    for (const url of readFileSync(list, 'utf8').split('\n')) if (url.startsWith('file:')) files.add(fileURLToPath(url));
  }
  return [...files];
}

function sample(stage: string, extra: Record<string, unknown> = {}): void {
  gc!();
  gc!();
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]));
  console.log(
    `rss-sample ${JSON.stringify({ stage, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, spaces, modules: modules(), ...extra })}`,
  );
}

/** `calls` requests, `concurrency` at a time; every body read to the end, every status checked. */
async function drive(calls: number, concurrency: number, send: () => Promise<number>): Promise<void> {
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      if ((await send()) !== 200) failures++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failures > 0) throw new Error(`${failures} of ${calls} calls did not answer 200`);
}

const [mode, arg, callsArg, concurrencyArg] = process.argv.slice(2);
const calls = Number(callsArg ?? 5000);
const concurrency = Number(concurrencyArg ?? 32);
const undici = await import('undici');
sample('undici imported');

if (mode === 'import') {
  await import(arg!);
  sample(`${arg} imported`);
} else if (mode === 'plain') {
  await drive(calls, concurrency, async () => {
    const r = await undici.request(arg!);
    await r.body.dump();
    return r.statusCode;
  });
  sample(`after ${calls} calls`);
} else if (mode === 'mesh') {
  const { createMesh, meshOptionsFromEnv } = (await import(hyphae)) as typeof import('../../src/index.js');
  sample('hyphae imported');
  const mesh = await createMesh(meshOptionsFromEnv());
  sample('mesh created');
  await drive(calls, concurrency, async () => {
    const r = await mesh.request(arg!);
    await r.body.dump();
    return r.statusCode;
  });
  sample(`after ${calls} calls`);
  if (process.env.RSS_HEAP_SNAPSHOT) {
    gc();
    v8.writeHeapSnapshot(process.env.RSS_HEAP_SNAPSHOT);
  }
  await mesh.close();
} else {
  throw new Error(`unknown mode ${mode}`);
}
await undici.getGlobalDispatcher().close();
