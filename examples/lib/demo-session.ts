/**
 * The frame of a named demo (`npm run demo -- <name>`): start the mesh, run the
 * demo's steps, then either stop everything and exit with the verdict, or with
 * `--keep` leave it running with steady traffic and print where the dashboard
 * is. The demo process is a mesh client with an identity of its own (`demo`),
 * so its calls are mTLS and show in the dashboard as an edge.
 */
import path from 'node:path';
import { createMesh, type Mesh } from 'hyphae';
import { cliPath } from './child.js';
import { reportFailure, startDemoMesh, writeViewerTokenFile, type DemoMesh } from './demo-mesh.js';
import { steadyTraffic } from './demo-traffic.js';

export interface DemoContext {
  mesh: DemoMesh;
  log(line?: string): void;
  /** `hyphae apply -f <file>` (relative to the repository root), printed with what it answered and why. */
  apply(file: string, why: string): Promise<void>;
  /** This process as a mesh client (`demo`), made once; `labels` (a zone) apply to the first call only. */
  client(labels?: Record<string, string>): Promise<Mesh>;
}

export interface DemoOutcome {
  ok: boolean;
  /** What the closing line says. */
  summary: string;
  /** What `--keep` calls steadily, so the dashboard shows the demo's edges live. */
  keepCalling: { url: string; headers?: Record<string, string> }[];
}

export interface DemoOptions {
  keep: boolean;
  ttlSeconds?: number;
}

/** Resolves with the exit code: 0 when the demo showed its effect; with `--keep`, once Ctrl-C or SIGTERM stopped it. */
export async function runDemo(title: string, options: DemoOptions, steps: (ctx: DemoContext) => Promise<DemoOutcome>): Promise<number> {
  const log = (line = '') => console.log(line);
  log(title);
  log('');
  let mesh: DemoMesh;
  try {
    mesh = await startDemoMesh(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds });
  } catch {
    return 1;
  }
  log(`  control plane   ${mesh.controlPlane} (CA bundle ${mesh.caFile})`);
  let client: Mesh | undefined;
  const ctx: DemoContext = {
    mesh,
    log,
    async apply(file, why) {
      log(`hyphae apply -f ${file}   (${why})`);
      const out = await mesh.apply(file);
      for (const line of out.trim().split('\n')) if (line) log(`  ${line}`);
    },
    async client(labels) {
      client ??= await createMesh({ controlPlane: mesh.controlPlane, caFile: mesh.caFile, service: 'demo', token: await mesh.tokenFor('demo'), ...(labels ? { labels } : {}) });
      return client;
    },
  };
  const stopAll = async () => {
    await client?.close();
    await mesh.stop();
  };
  // Ctrl-C (or a test's stall ceiling) in the middle of a demo: stop the children too, which a signal's
  // default action would leave running.
  const interrupted = () => void stopAll().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  let outcome: DemoOutcome;
  try {
    outcome = await steps(ctx);
  } catch (err) {
    await reportFailure(err, mesh.children);
    await stopAll();
    return 1;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  log('');
  log(`${outcome.ok ? 'demo ok' : 'demo FAILED'}: ${outcome.summary}`);
  if (!options.keep) {
    await stopAll();
    return outcome.ok ? 0 : 1;
  }
  return keepRunning(ctx, outcome, stopAll);
}

async function keepRunning(ctx: DemoContext, outcome: DemoOutcome, stopAll: () => Promise<void>): Promise<number> {
  const { mesh, log } = ctx;
  const client = await ctx.client();
  const rps = 10;
  let i = 0;
  const stopTraffic = steadyTraffic(async () => {
    const target = outcome.keepCalling[i++ % outcome.keepCalling.length]!;
    const res = await client.request(target.url, target.headers ? { headers: target.headers } : {});
    await res.body.dump();
  }, rps);
  const viewerToken = await mesh.viewerToken();
  const viewerTokenFile = await writeViewerTokenFile(mesh, viewerToken);
  const cli = `HYPHAE_CONTROL_PLANE=${mesh.controlPlane} HYPHAE_CA_FILE=${mesh.caFile} node ${path.relative(process.cwd(), cliPath)}`;
  log('');
  log(`--keep: everything stays up; this process calls ${outcome.keepCalling.map((t) => t.url).join(', ')} ${rps} times a second in all.`);
  log(`  dashboard       ${mesh.controlPlane}/ui#token=${viewerToken}`);
  log(`                  (a viewer token; the browser must trust ${mesh.caFile})`);
  log(`  live views      ${cli} top --token-file ${viewerTokenFile}`);
  log(`  admin           --token-file ${mesh.adminTokenFile} for writes (hyphae apply, token create...)`);
  log('Ctrl-C stops it all.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stopTraffic();
  await stopAll();
  return 0;
}
