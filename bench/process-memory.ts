/**
 * The memory half of the per-process cost bench (bench/sidecar.ts): what a
 * meshed process holds against a plain one doing the same calls, and what
 * importing each package costs. Every figure comes from a fresh child process
 * (bench/lib/memory-peer.ts) that loads only what its mode needs; modes run
 * one after the other (never beside the load rounds), `runs` times in turn,
 * and the median of each figure is reported.
 */
import path from 'node:path';
import { buildDir, startCommand } from '../examples/lib/child.js';
import { median } from './lib/load.js';

export const CALL_MODES = ['calls-undici', 'calls-mesh', 'calls-undici-tls', 'calls-mesh-mtls'] as const;
export const IMPORT_MODES = ['import-none', 'import-undici', 'import-hyphae'] as const;
type CallMode = (typeof CALL_MODES)[number];
type ImportMode = (typeof IMPORT_MODES)[number];

interface Memory {
  rssMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
}

export interface CallsMemory {
  mode: CallMode;
  calls: number;
  errors: number;
  afterCalls: Memory;
  /** Undefined when the child had no `gc` (it is started with --expose-gc, so only if that flag is refused). */
  afterGc?: Memory;
}

export interface ImportMemory {
  mode: ImportMode;
  before: Memory;
  afterImport: Memory;
  afterGc?: Memory;
  importMs: number;
}

export interface MemoryResult {
  calls: CallsMemory[];
  imports: ImportMemory[];
}

export interface MemoryTargets {
  /** Server ports: plain HTTP, HTTPS with client certificates, the plain mesh service and the mTLS one. */
  ports: { plain: number; tls: number; mesh: number; meshMtls: number };
  /** CertFiles as JSON, for the TLS client. */
  certs: string;
  plainCp: string;
  mtlsCp: string;
  mtlsToken: string;
  mtlsCaFile: string;
  cacheDir: string;
}

const script = path.join(buildDir, 'bench/lib/memory-peer.js');

async function runPeer(env: Record<string, string>): Promise<Record<string, unknown>> {
  const child = startCommand(process.execPath, ['--expose-gc', script], env, script);
  try {
    // A ceiling against a stalled child: 5,000 calls take a second or two, a meshed start (key, CSR) a few more.
    const m = await child.waitFor(/^result (\{.*\})$/, 120_000);
    return JSON.parse(m[1]!) as Record<string, unknown>;
  } finally {
    await child.kill();
  }
}

const medianMemory = (ms: Memory[]): Memory => ({
  rssMiB: median(ms.map((m) => m.rssMiB)),
  heapUsedMiB: median(ms.map((m) => m.heapUsedMiB)),
  externalMiB: median(ms.map((m) => m.externalMiB)),
});
const medianOptional = (ms: (Memory | undefined)[]): Memory | undefined => (ms.every((m) => m) ? medianMemory(ms as Memory[]) : undefined);

export async function processMemory(t: MemoryTargets, { calls, concurrency, runs }: { calls: number; concurrency: number; runs: number }): Promise<MemoryResult> {
  const callEnv: Record<CallMode, Record<string, string>> = {
    'calls-undici': { PORT: String(t.ports.plain) },
    'calls-undici-tls': { PORT: String(t.ports.tls), CERTS: t.certs },
    'calls-mesh': { PORT: String(t.ports.mesh), CP: t.plainCp, CACHE_DIR: t.cacheDir },
    'calls-mesh-mtls': { PORT: String(t.ports.meshMtls), CP: t.mtlsCp, TOKEN: t.mtlsToken, CA_FILE: t.mtlsCaFile, CACHE_DIR: t.cacheDir },
  };
  const callRuns = new Map<CallMode, CallsMemory[]>(CALL_MODES.map((m) => [m, []]));
  const importRuns = new Map<ImportMode, ImportMemory[]>(IMPORT_MODES.map((m) => [m, []]));
  for (let r = 0; r < runs; r++) {
    for (const mode of CALL_MODES) {
      const res = (await runPeer({ MODE: mode, CALLS: String(calls), CONCURRENCY: String(concurrency), ...callEnv[mode] })) as unknown as CallsMemory;
      if (res.errors > 0) throw new Error(`${mode}: ${res.errors} of ${res.calls} calls failed`);
      callRuns.get(mode)!.push(res);
      process.stderr.write(`  memory run ${r + 1}/${runs} ${mode.padEnd(18)} RSS ${res.afterCalls.rssMiB.toFixed(1)} MiB after the calls, ${res.afterGc?.rssMiB.toFixed(1) ?? '-'} after a GC\n`);
    }
    for (const mode of IMPORT_MODES) {
      const res = (await runPeer({ MODE: mode })) as unknown as ImportMemory;
      importRuns.get(mode)!.push(res);
      process.stderr.write(`  memory run ${r + 1}/${runs} ${mode.padEnd(18)} RSS ${res.afterImport.rssMiB.toFixed(1)} MiB, import ${res.importMs.toFixed(0)} ms\n`);
    }
  }
  return {
    calls: CALL_MODES.map((mode) => {
      const rs = callRuns.get(mode)!;
      const row: CallsMemory = {
        mode,
        calls,
        errors: 0,
        afterCalls: medianMemory(rs.map((x) => x.afterCalls)),
      };
      const gc = medianOptional(rs.map((x) => x.afterGc));
      if (gc) row.afterGc = gc;
      return row;
    }),
    imports: IMPORT_MODES.map((mode) => {
      const rs = importRuns.get(mode)!;
      const row: ImportMemory = {
        mode,
        before: medianMemory(rs.map((x) => x.before)),
        afterImport: medianMemory(rs.map((x) => x.afterImport)),
        importMs: median(rs.map((x) => x.importMs)),
      };
      const gc = medianOptional(rs.map((x) => x.afterGc));
      if (gc) row.afterGc = gc;
      return row;
    }),
  };
}
