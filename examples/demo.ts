/**
 * `npm run demo`: a control plane, three `api` instances (v1, v1, v2) and a
 * `web` service on loopback, all real processes, every call between them
 * mutually authenticated (mTLS, SPIFFE identities from the control plane's
 * CA). It makes a join token per service with the admin token, calls web by
 * its mesh name, shows which api instance answered each call and the caller
 * identity api saw, replaces every api instance one by one under traffic,
 * and prints a summary.
 *
 * Every process reports its traffic to the control plane (the dashboard at
 * /ui, `hyphae top`, `hyphae status`); web runs with an OpenTelemetry SDK
 * (examples/telemetry/otel.ts) whose Prometheus exporter shows the mesh's
 * metrics.
 *
 *   npm run demo             run, print, stop everything, exit 0
 *   npm run demo -- --keep   then keep everything running with live traffic, print where the
 *                            dashboard and the metrics are (Ctrl-C or SIGTERM stops it all)
 *   npm run demo -- <name>   one of the named demos of examples/demos/ (routing, splitting,
 *                            subsets, failover, tracing); an unknown name lists them
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createMesh } from 'hyphae';
import { buildDir, cliPath, startNode } from './lib/child.js';
import { reportFailure, startDemoMesh, writeViewerTokenFile, type DemoMesh } from './lib/demo-mesh.js';
import { steadyTraffic } from './lib/demo-traffic.js';

// The name is the first positional argument; the default demo below takes none, so any positional means a named one.
const named = parseArgs({ options: { keep: { type: 'boolean' }, calls: { type: 'string' }, rps: { type: 'string' } }, allowPositionals: true, strict: false });
if (named.positionals[0] !== undefined) {
  const { runNamed } = await import('./demos/index.js');
  process.exit(await runNamed(named.positionals[0], { keep: named.values.keep === true }));
}

const { values: flags } = parseArgs({
  options: { keep: { type: 'boolean', default: false }, calls: { type: 'string', default: '12' }, rps: { type: 'string', default: '10' } },
});
const calls = Number(flags.calls);
const log = (s = '') => console.log(s);
log('hyphae demo: control plane + web -> api (3 instances), on 127.0.0.1, mTLS everywhere');
log('');
// A short lease (3 s, the default): an instance that dies without deregistering leaves the registry (and the dashboard) soon.
const demoMesh: DemoMesh = await startDemoMesh().catch(() => process.exit(1));
const { controlPlane, caFile, adminTokenFile, children } = demoMesh;
const stopAll = () => demoMesh.stop();

try {
  log(`  control plane   ${controlPlane} (CA bundle ${caFile})`);

  // One join token per service, made with the admin token by the CLI, as an operator would.
  // The dashboard link gets a viewer token: it reads, and cannot register or obtain a certificate, so a shared
  // link (or one left in a browser's history) does not let anyone join the mesh.
  const [apiToken, webToken, demoToken, viewToken] = await Promise.all([demoMesh.tokenFor('api'), demoMesh.tokenFor('web'), demoMesh.tokenFor('demo'), demoMesh.viewerToken()]);
  const viewTokenFile = await writeViewerTokenFile(demoMesh, viewToken);
  log(`  join tokens     api, web, demo (hyphae token create --service <name>); a viewer token for the dashboard (--viewer)`);
  const env = demoMesh.env;

  const startApi = async (version: string) => {
    const c = startNode(path.join(buildDir, 'examples/api/server.js'), [], { ...env, HYPHAE_TOKEN: apiToken, VERSION: version });
    children.push(c);
    const m = await c.waitFor(/ready service=api instance=(\S+) version=(\S+)/);
    log(`  api             ${m[1]} (${m[2]}) pid=${c.proc.pid}`);
    return { child: c, id: m[1]!, version };
  };
  let apis = [await startApi('v1'), await startApi('v1'), await startApi('v2')];
  // web loads an OpenTelemetry SDK first (--import), as an instrumented service would: its MeterProvider
  // exports the mesh's metrics in the Prometheus format.
  const web = startNode(path.join(buildDir, 'examples/web/server.js'), [], {
    ...env,
    HYPHAE_SERVICE: 'web',
    HYPHAE_TOKEN: webToken,
    NODE_OPTIONS: `--import=${path.join(buildDir, 'examples/telemetry/otel.js')}`,
    OTEL_PROMETHEUS_PORT: '0',
  });
  children.push(web);
  const metricsUrl = (await web.waitFor(/^otel metrics=(\S+)/))[1]!;
  log(`  web             ${(await web.waitFor(/ready service=web instance=(\S+)/))[1]} pid=${web.proc.pid} (Prometheus metrics ${metricsUrl})`);
  log('');

  // The demo itself is a mesh client with its own identity: it calls `web` by name, as any service would.
  const mesh = await createMesh({ controlPlane, service: 'demo', token: demoToken, caFile });
  const self = mesh.identity()!.spiffeId!;
  log(`  this process    ${self}`);
  // Configuration the mesh acts on and the dashboard shows: a route for api (its one rule names the calls in
  // spans and metrics) and a policy that lets only web call api (mTLS identities, checked by api's server).
  const webId = self.replace(/\/sa\/demo$/, '/sa/web');
  const resources = path.join(demoMesh.dataDir, 'demo-resources.json');
  await writeFile(
    resources,
    JSON.stringify([
      { apiVersion: 'hyphae.dev/v1', kind: 'Route', metadata: { name: 'api' }, spec: { parentRefs: [{ name: 'api' }], rules: [{ name: 'api-default', backendRefs: [{ name: 'api' }] }] } },
      {
        apiVersion: 'hyphae.dev/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'api-from-web' },
        spec: { selector: { service: 'api' }, action: 'ALLOW', rules: [{ from: { principals: [webId] } }] },
      },
    ]),
  );
  await demoMesh.cli(['apply', '-f', resources]);
  log(`  configuration   Route api (rule api-default), AuthorizationPolicy api-from-web (ALLOW ${webId})`);
  log('');
  const seen = new Map<string, number>();
  const peers = new Set<string>();
  log(`${calls} calls: this process -> web -> api (api prints the caller identity its mTLS handshake proved)`);
  for (let i = 1; i <= calls; i++) {
    const started = performance.now();
    const res = await mesh.request('http://web/');
    const body = (await res.body.json()) as { api: { instance: string; version: string; peer: string | null } };
    const ms = (performance.now() - started).toFixed(1);
    seen.set(body.api.instance, (seen.get(body.api.instance) ?? 0) + 1);
    peers.add(String(body.api.peer));
    log(`  call ${String(i).padStart(2)}  ${res.statusCode}  web -> api ${body.api.instance} (${body.api.version})  peer=${body.api.peer}  ${ms} ms`);
  }
  log('');
  log('calls per api instance:');
  for (const a of apis) log(`  ${a.id.padEnd(22)} ${a.version}  ${seen.get(a.id) ?? 0}`);
  const everyInstance = apis.every((a) => (seen.get(a.id) ?? 0) > 0);
  const webIdentity = [...peers].every((p) => p.endsWith('/ns/default/sa/web'));
  log(`api saw callers: ${[...peers].join(', ')}`);
  log('');

  // Rolling restart under traffic: a new instance comes up, then the old one drains.
  log('rolling restart of every api instance while calls keep flowing...');
  let ok = 0;
  let failed = 0;
  let running = true;
  const traffic = (async () => {
    while (running) {
      try {
        const res = await mesh.request('http://web/');
        await res.body.dump();
        if (res.statusCode === 200) ok++;
        else failed++;
      } catch {
        failed++;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const replaced = [];
  for (const old of apis) {
    const fresh = await startApi(old.version);
    await old.child.kill('SIGTERM');
    replaced.push(fresh);
    log(`  replaced ${old.id} -> ${fresh.id} pid=${fresh.child.proc.pid}`);
  }
  apis = replaced;
  running = false;
  await traffic;
  log(`  ${ok + failed} calls during the restart: ${ok} ok, ${failed} failed`);
  log('');

  const success = everyInstance && webIdentity && failed === 0;
  log(success ? 'demo ok: every api instance answered over mTLS, every caller was web, and the rolling restart lost no call' : 'demo FAILED');
  if (flags.keep) {
    // Live traffic for the views: this process calls web steadily; every process reports its stats.
    const rps = Number(flags.rps);
    const stopTraffic = steadyTraffic(async () => (await mesh.request('http://web/')).body.dump(), rps);
    const cli = `HYPHAE_CONTROL_PLANE=${controlPlane} HYPHAE_CA_FILE=${caFile} node ${cliPath}`;
    log('');
    log(`--keep: everything stays up; this process calls web ${rps} times a second.`);
    log(`  dashboard       ${controlPlane}/ui#token=${viewToken}`);
    log(`                  (the browser must trust ${caFile}; the token after # never leaves the browser)`);
    log(`  metrics         ${metricsUrl} (web, through the OpenTelemetry Prometheus exporter)`);
    log(`  live views      ${cli} top --token-file ${viewTokenFile}`);
    log(`                  ${cli} status --json --token-file ${viewTokenFile}   (the viewer token: read-only)`);
    log(`  admin           --token-file ${adminTokenFile} for writes (hyphae apply, token create...)`);
    log(`  instances       ${[...apis.map((a) => `api ${a.id} pid=${a.child.proc.pid}`), `web pid=${web.proc.pid}`].join(', ')}`);
    log('Ctrl-C stops it all.');
    const stop = () => {
      stopTraffic();
      void mesh
        .close()
        .then(stopAll)
        .finally(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } else {
    await mesh.close();
    await stopAll();
    process.exit(success ? 0 : 1);
  }
} catch (err) {
  await reportFailure(err, children);
  await stopAll();
  process.exit(1);
}
