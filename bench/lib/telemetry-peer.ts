/**
 * One side of the telemetry throughput benchmark (bench/telemetry-throughput.ts).
 * A process hosts one mesh per mode it is given (MODES, comma-separated), so
 * that modes which can share a process do: `off` and `no-sdk` differ only in
 * the mesh's `telemetry.enabled`, and running them in the same two processes
 * removes process-to-process noise from the comparison. A mode that changes
 * the whole process — an SDK registers itself globally, an AsyncLocalStorage
 * once entered slows every promise — gets processes of its own.
 *
 *   ROLE=server  per mode, a wrapServer service answering a small fixed body (no registration)
 *   ROLE=client  per mode, a mesh client; on {cmd: 'run', mode} it calls its server through
 *                mesh.request in closed loops and answers with the load result and its CPU time
 *   ROLE=middle  per mode, a wrapServer service whose handler calls the server (PORTS) through
 *                its mesh before it answers: a service in the middle of a chain (`chain-*` modes,
 *                where the client is a load generator with the mesh's telemetry off)
 *
 * Modes: `off` (telemetry: { enabled: false }: the same stacks without the telemetry layers),
 * `no-sdk` (the layers, no OpenTelemetry SDK), `off-traced` / `no-sdk-traced` (the same two,
 * every request carrying an upstream's traceparent, which the server checks and keeps for its
 * handler), `sdk-1pct` (sdk-node: parent-based 1 % sampler, batch span processor),
 * `sdk-1pct-metrics` (the same, and a MeterProvider read every second), and their baselines
 * `sdk-off` / `sdk-metrics-off`: the same SDK in the same process, the mesh's telemetry off;
 * `sdk-1pct-child`: sdk-1pct with every client call made under an unsampled parent;
 * `chain-1pct` / `chain-off`: load generator -> middle -> server, the SDK in all three, the mesh's
 * telemetry on (or off) in the middle and the server: the trace's root is the middle's SERVER span.
 * Discovery is a StaticResolver: no control plane, so no stats are sent (they are still counted).
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { runLoad } from './load.js';
import { startBenchSdk } from './otel-sdk.js';

const modes = (process.env.MODES ?? 'off').split(',');
const role = process.env.ROLE ?? 'server';
const sdk = modes.some((m) => m.startsWith('sdk-') || m.startsWith('chain-')) ? await startBenchSdk(0.01, `bench-${role}`, modes.includes('sdk-1pct-metrics')) : undefined;
const enabled = (mode: string) => mode !== 'off' && !mode.endsWith('-off') && mode !== 'off-traced';
const send = (m: unknown) => process.send!(m);
const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const meshes: Mesh[] = [];

/**
 * BENCH_PROFILE_DIR: a CPU profile of this process per round and mode
 * (`<role>-<mode>-<n>.cpuprofile`), so modes sharing a process are profiled
 * apart. The profiler's own cost lands on every mode alike.
 */
const profileDir = process.env.BENCH_PROFILE_DIR;
const profiler = profileDir ? new Session() : undefined;
profiler?.connect();
let profiles = 0;
async function profileStart(): Promise<void> {
  if (!profiler) return;
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}
async function profileStop(mode: string): Promise<void> {
  if (!profiler) return;
  const { profile } = await profiler.post('Profiler.stop');
  writeFileSync(path.join(profileDir!, `${role}-${mode}-${++profiles}.cpuprofile`), JSON.stringify(profile));
}
const UNSAMPLED_PARENT = trace.setSpanContext(ROOT_CONTEXT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.NONE, isRemote: true });

if (role === 'server' || role === 'middle') {
  const body = Buffer.from('{"ok":true,"service":"bench"}');
  const headers = { 'content-type': 'application/json', 'content-length': body.length };
  const ports: Record<string, number> = {};
  const upstream = role === 'middle' ? (JSON.parse(process.env.PORTS!) as Record<string, number>) : undefined;
  for (const mode of modes) {
    const resolver = new StaticResolver(upstream ? { bench: [{ address: '127.0.0.1', port: upstream[mode]! }] } : {});
    const mesh = await createMesh({ resolver, service: role === 'middle' ? 'bench-middle' : 'bench', telemetry: { enabled: enabled(mode) } });
    meshes.push(mesh);
    const handler: http.RequestListener = upstream
      ? (_req, res) => {
          mesh.request('http://bench/').then(
            (r) =>
              r.body.dump().then(() => {
                res.writeHead(200, headers);
                res.end(body);
              }),
            () => res.writeHead(502).end(),
          );
        }
      : (_req, res) => {
          res.writeHead(200, headers);
          res.end(body);
        };
    const server = mesh.wrapServer(http.createServer(handler), { register: false });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports[mode] = (server.address() as AddressInfo).port;
  }
  // CPU time (user + system, µs) on request: the driver reads it before and after each round.
  process.on('message', (m: { cmd: string; mode?: string; phase?: 'before' | 'after' }) => {
    if (m.cmd !== 'cpu') return;
    const cpu = cpuMicros();
    const profiling = m.phase === 'before' ? profileStart() : m.phase === 'after' ? profileStop(m.mode!) : Promise.resolve();
    void profiling.then(() => send({ cpu }));
  });
  send({ ports });
} else {
  const ports = JSON.parse(process.env.PORTS!) as Record<string, number>;
  const calls = new Map<string, () => Promise<void>>();
  for (const mode of modes) {
    const mesh = await createMesh({
      resolver: new StaticResolver({ bench: [{ address: '127.0.0.1', port: ports[mode]! }] }),
      service: 'bench-client',
      // A chain's load generator is not a mesh service of the chain: its telemetry is off in both modes.
      telemetry: { enabled: enabled(mode) && !mode.startsWith('chain-') },
    });
    meshes.push(mesh);
    // An upstream's trace context, as a service in the middle of a traced chain receives it.
    const opts = mode.endsWith('-traced') ? { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } } : undefined;
    calls.set(mode, async () => {
      const r = await mesh.request('http://bench/', opts);
      await r.body.dump();
    });
  }
  const round = async (m: { mode: string; durationMs: number; concurrency: number }): Promise<void> => {
    await profileStart();
    const cpu0 = cpuMicros();
    const load = () => runLoad(calls.get(m.mode)!, { concurrency: m.concurrency, durationMs: m.durationMs });
    // `-child`: every call made under an unsampled parent, as a service's calls while it handles one of the
    // 99 % of requests a 1 % sampler left out (the loops start in that context and keep it).
    const running = m.mode.endsWith('-child') ? context.with(UNSAMPLED_PARENT, load) : load();
    const result = await running;
    const cpu = cpuMicros() - cpu0;
    await profileStop(m.mode);
    send({ result, cpu, spans: sdk?.exportedSpans() });
  };
  process.on('message', (m: { cmd: string; mode: string; durationMs: number; concurrency: number }) => {
    if (m.cmd !== 'run') return;
    // A failed round ends this peer with its error on stderr (the driver, which waits for the round's
    // answer, then stops at its timeout), rather than as an unhandled rejection.
    round(m).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  });
  send({ ready: true });
}

process.on('disconnect', () => {
  void Promise.all(meshes.map((m) => m.close()))
    .then(() => sdk?.stop())
    .finally(() => process.exit(0));
});
