/**
 * What telemetry costs per call, measured in-process with no network (so the
 * figure is the layers' own work): the client filters (call + attempt) and
 * the inbound layer, around a terminal that answers at once. Each mode runs
 * in its own process, since an SDK registers itself globally.
 *
 *   node build/bench/telemetry-cost.js            every mode, as a table
 *   node build/bench/telemetry-cost.js no-sdk     one mode (prints JSON)
 *
 * Modes: `baseline` (the same stack without the telemetry layers), `no-sdk`
 * (requests carry a traceparent, passed on), `sdk-1pct` (sdk-node,
 * parent-based 1 % sampler, batch processor; root requests), `sdk-all` (a
 * sampled incoming trace: every span recorded, batch processor to an
 * exporter that drops), `sdk-1pct-unsampled` (the same SDK as sdk-1pct, in
 * the middle of an unsampled trace, as 99 % of requests below a 1 % root:
 * calls made under an unsampled parent, requests carrying an unsampled
 * traceparent). Client calls are otherwise made outside any request (roots).
 */
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { fileURLToPath } from 'node:url';
import { context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import type { Attempt } from '../src/client/endpoint/attempt.js';
import { MeshCall } from '../src/client/call/mesh-call.js';
import { callTelemetry } from '../src/client/logical/call-telemetry.js';
import { attemptTelemetry } from '../src/client/endpoint/attempt-telemetry.js';
import { compose, type Filter, type Handler } from '../src/core/filter.js';
import { inboundTelemetry } from '../src/server/telemetry-layer.js';
import type { InboundHandler } from '../src/server/stack.js';
import { MeshTelemetry } from '../src/telemetry/mesh-telemetry.js';
import { startBenchSdk } from './lib/otel-sdk.js';

type Mode = 'baseline' | 'no-sdk-root' | 'no-sdk' | 'sdk-1pct' | 'sdk-1pct-unsampled' | 'sdk-1pct-metrics' | 'sdk-all';
const modes: Mode[] = ['baseline', 'no-sdk-root', 'no-sdk', 'sdk-1pct', 'sdk-1pct-unsampled', 'sdk-1pct-metrics', 'sdk-all'];
const UNSAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';

async function startSdk(ratio: number, metrics: boolean): Promise<() => Promise<void>> {
  const sdk = await startBenchSdk(ratio, 'bench', metrics);
  return () => sdk.stop();
}

interface Result {
  mode: Mode;
  clientNs: number;
  serverNs: number;
}

async function measure(mode: Mode): Promise<Result> {
  const stop =
    mode === 'sdk-1pct' || mode === 'sdk-1pct-unsampled'
      ? await startSdk(0.01, false)
      : mode === 'sdk-1pct-metrics'
        ? await startSdk(0.01, true)
        : mode === 'sdk-all'
          ? await startSdk(1, true)
          : undefined;
  const t = new MeshTelemetry({ service: 'bench' });
  // A mesh with a control plane knows its cluster (issue 17): the cluster attributes are in the measured path.
  t.cluster = 'dc1';
  const dest = { name: 'api', namespace: 'default' };
  const endpoint = { id: '127.0.0.1:1', info: { id: '127.0.0.1:1', address: '127.0.0.1', port: 1, labels: {}, weight: 1 } };
  const answer = { statusCode: 200, endpoint } as unknown as Attempt;
  const terminal: Handler<MeshCall, Attempt> = (call) => {
    call.endpoint = endpoint as MeshCall['endpoint'];
    return Promise.resolve(answer);
  };
  const layers: Filter<MeshCall, Attempt>[] = mode === 'baseline' ? [] : [callTelemetry(t, dest), attemptTelemetry()];
  const handle = compose(layers, terminal);
  const handler = {};
  const opts = { origin: 'http://api', path: '/items', method: 'GET' as const, headers: { accept: 'application/json' } };

  const unsampledParent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.NONE,
    isRemote: true,
  });
  const clientRound = (n: number) => (mode === 'sdk-1pct-unsampled' ? context.with(unsampledParent, () => calls(n)) : calls(n));
  const calls = async (n: number) => {
    const started = cpuMs();
    for (let i = 0; i < n; i++) {
      const call = new MeshCall(dest, opts, handler);
      await handle(call);
      call.complete(null);
    }
    return ((cpuMs() - started) * 1e6) / n;
  };

  // The inbound layer around an application that answers at once, with requests carrying a traceparent.
  const app: InboundHandler = (_req, res) => {
    res.statusCode = 200;
    (res as unknown as { writableFinished: boolean }).writableFinished = true;
    res.emit('close');
  };
  const inbound = mode === 'baseline' ? app : inboundTelemetry(t)(app);
  const socket = { remoteAddress: '127.0.0.1', remotePort: 5000, localPort: 8080 };
  // A sampled incoming trace (the costly case of each mode), except for sdk-1pct, whose point is the 1 % of roots.
  const headers: Record<string, string> = { host: 'api' };
  if (mode === 'no-sdk' || mode === 'sdk-all') headers.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  if (mode === 'sdk-1pct-unsampled') headers.traceparent = UNSAMPLED;
  const serverRound = (n: number) => {
    const started = cpuMs();
    for (let i = 0; i < n; i++) {
      const req = { method: 'GET', url: '/items?x=1', httpVersion: '1.1', headers, socket } as unknown as http.IncomingMessage;
      const res = new EventEmitter() as unknown as http.ServerResponse;
      (res as { req: http.IncomingMessage }).req = req;
      inbound(req, res);
    }
    return ((cpuMs() - started) * 1e6) / n;
  };

  const n = 200_000;
  await clientRound(n); // warm up
  serverRound(n);
  const clients: number[] = [];
  const servers: number[] = [];
  for (let r = 0; r < 5; r++) {
    clients.push(await clientRound(n));
    servers.push(serverRound(n));
  }
  await stop?.();
  return { mode, clientNs: median(clients), serverNs: median(servers) };
}

/** CPU time of this process (ms), not wall time: other work on a shared machine does not count against a mode. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const arg = process.argv[2] as Mode | undefined;
if (arg) {
  console.log(JSON.stringify(await measure(arg)));
} else {
  const results: Result[] = modes.map((m) => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), m], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${m} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Result;
  });
  const base = results[0]!;
  console.log('telemetry cost per call (in-process, no network; CPU ns, median of 5 rounds of 200k)');
  console.log(`${'mode'.padEnd(10)}${'client ns'.padStart(12)}${'+ vs base'.padStart(12)}${'server ns'.padStart(12)}${'+ vs base'.padStart(12)}`);
  for (const r of results) {
    const dc = r.clientNs - base.clientNs;
    const ds = r.serverNs - base.serverNs;
    console.log(
      `${r.mode.padEnd(10)}${r.clientNs.toFixed(0).padStart(12)}${(r === base ? '' : `+${dc.toFixed(0)}`).padStart(12)}${r.serverNs.toFixed(0).padStart(12)}${(r === base ? '' : `+${ds.toFixed(0)}`).padStart(12)}`,
    );
  }
}
