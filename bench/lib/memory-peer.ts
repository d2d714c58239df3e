/**
 * One process of the memory half of the per-process cost bench
 * (bench/process-memory.ts). It imports nothing but Node's own modules before
 * it is told what to load, so that what it reports is the cost of that alone.
 * Started with --expose-gc; prints `result <JSON>`.
 *
 *   MODE=import-none | import-undici | import-hyphae
 *       RSS before and after `import()` of the package (and after a GC), and the import's time
 *   MODE=calls-undici | calls-undici-tls | calls-mesh | calls-mesh-mtls
 *       CALLS requests (CONCURRENCY at a time, keep-alive) to the bench server (PORT), then RSS
 *       and heap after the calls and after a GC:
 *         calls-undici      an undici Pool, plain HTTP
 *         calls-undici-tls  an undici Pool over TLS with a client certificate (CERTS)
 *         calls-mesh        createMesh on the plain control plane (CP), mesh.request('http://bench/')
 *         calls-mesh-mtls   createMesh on the secure control plane (CP, TOKEN, CA_FILE): STRICT mTLS
 */
import { readFileSync } from 'node:fs';

type Hyphae = typeof import('../../src/index.js');
type Undici = typeof import('undici');
// By name, as an application imports them (the package's own exports map resolves `hyphae`); a
// variable keeps TypeScript from resolving the package's built types while it builds them.
const HYPHAE: string = 'hyphae';
const UNDICI: string = 'undici';

const mode = process.env.MODE ?? '';
const gc = (globalThis as { gc?: () => void }).gc;
const MiB = 2 ** 20;
const collect = () => {
  // Twice: a first full GC can leave what it finalized for the next one.
  gc?.();
  gc?.();
};
const memory = () => {
  const m = process.memoryUsage();
  return { rssMiB: m.rss / MiB, heapUsedMiB: m.heapUsed / MiB, externalMiB: m.external / MiB };
};
const report = (result: Record<string, unknown>) => console.log(`result ${JSON.stringify({ mode, gc: gc !== undefined, ...result })}`);

if (mode.startsWith('import-')) {
  collect();
  const before = memory();
  const t0 = performance.now();
  if (mode === 'import-hyphae') await import(HYPHAE);
  else if (mode === 'import-undici') await import(UNDICI);
  else if (mode !== 'import-none') throw new Error(`unknown MODE ${mode}`);
  const importMs = performance.now() - t0;
  const afterImport = memory();
  collect();
  report({ before, afterImport, afterGc: gc ? memory() : undefined, importMs });
} else {
  const port = Number(process.env.PORT);
  const calls = Number(process.env.CALLS ?? 5_000);
  const concurrency = Number(process.env.CONCURRENCY ?? 32);
  let send: () => Promise<number>;
  let close: () => Promise<unknown>;
  if (mode === 'calls-undici' || mode === 'calls-undici-tls') {
    const { Pool } = (await import(UNDICI)) as Undici;
    const tls = mode === 'calls-undici-tls';
    const certs = tls ? (JSON.parse(process.env.CERTS!) as { caCert: string; clientCert: string; clientKey: string }) : undefined;
    const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const connect = certs ? { ca: readFileSync(certs.caCert), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : undefined;
    const pool = new Pool(origin, { pipelining: 1, ...(connect ? { connect } : {}) });
    send = async () => {
      const r = await pool.request({ origin, path: '/', method: 'GET' });
      await r.body.dump();
      return r.statusCode;
    };
    close = () => pool.close();
  } else if (mode === 'calls-mesh' || mode === 'calls-mesh-mtls') {
    const { createMesh } = (await import(HYPHAE)) as Hyphae;
    const secure = mode === 'calls-mesh-mtls';
    const mesh = await createMesh({
      controlPlane: process.env.CP!,
      service: 'bench-client',
      cacheDir: process.env.CACHE_DIR!,
      ...(secure ? { token: process.env.TOKEN!, caFile: process.env.CA_FILE! } : {}),
    });
    send = async () => {
      const r = await mesh.request('http://bench/');
      await r.body.dump();
      return r.statusCode;
    };
    close = () => mesh.close();
  } else {
    throw new Error(`unknown MODE ${mode}`);
  }
  let started = 0;
  let errors = 0;
  const loop = async () => {
    while (started < calls) {
      started++;
      try {
        if ((await send()) !== 200) errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const afterCalls = memory();
  collect();
  report({ calls, errors, afterCalls, afterGc: gc ? memory() : undefined });
  await close();
  process.exit(0);
}
