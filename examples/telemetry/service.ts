/**
 * A small mesh service for the telemetry examples and tests, built with
 * createMesh like any service: it serves through wrapServer (SERVER spans,
 * the server metric, inbound stats), calls other services through the mesh
 * (CLIENT spans, the client metric, edge stats), and its mesh reports stats
 * to the control plane. Nothing telemetry-specific is wired by hand: run it
 * with an SDK (`--import ./build/examples/telemetry/otel.js`) for spans and
 * metrics, or without for the trace-context pass-through alone.
 *
 *   HYPHAE_CONTROL_PLANE=https://127.0.0.1:15010 HYPHAE_SERVICE=api HYPHAE_TOKEN=<join token> \
 *   HYPHAE_CA_FILE=<ca-bundle.pem> CALLS=db node build/examples/telemetry/service.js
 *
 * Environment, besides the HYPHAE_* ones (meshOptionsFromEnv):
 *   VERSION, ZONE     labels of the instance
 *   CALLS             services called in turn for each request (comma-separated)
 *   FAIL_RATE         share of requests answered 500 (spread evenly: 0.2 is every fifth)
 *   FAIL_STATUS       the status of those failures; alone, every request is answered with it (e.g. 503)
 *   DELAY_MS          answer this late
 *   LOAD, RPS         instead of serving: call service LOAD, RPS times a second
 *
 * It answers JSON: who it is, the trace headers it received and its trace id
 * (getTraceId), and what each
 * call it made answered (bodies nested), so a test at the front of a chain
 * sees what the last hop got.
 */
import http from 'node:http';
import { createMesh, getTraceId, meshOptionsFromEnv, setServerRoute } from 'hyphae';

const env = process.env;
const fromEnv = meshOptionsFromEnv();
const load = env.LOAD;
const service = fromEnv.service ?? env.SERVICE ?? (load ? 'loadgen' : 'api');
const version = env.VERSION ?? 'v1';
const labels: Record<string, string> = { ...fromEnv.labels, version };
if (env.ZONE) labels.zone = env.ZONE;
const calls = (env.CALLS ?? '').split(',').filter(Boolean);
const failRate = Number(env.FAIL_RATE ?? 0);
const failStatus = env.FAIL_STATUS ? Number(env.FAIL_STATUS) : undefined;
const delayMs = Number(env.DELAY_MS ?? 0);

const mesh = await createMesh({ ...fromEnv, service, labels });
mesh.handleSignals();

if (load) {
  // Open loop at a steady rate with bounded concurrency: a load generator, not a benchmark.
  const rps = Number(env.RPS ?? 20);
  let inflight = 0;
  const tick = setInterval(() => {
    if (inflight >= 50) return;
    inflight++;
    mesh
      .request(`http://${load}/`)
      .then((r) => r.body.dump())
      .catch(() => {})
      .finally(() => inflight--);
  }, 1000 / rps);
  process.once('SIGTERM', () => clearInterval(tick));
  console.log(`ready service=${service} load=${load} rps=${rps}`);
} else {
  let instance = '-';
  let n = 0;
  const server = mesh.wrapServer(
    http.createServer((req, res) => {
      // Named once per handler: spans, the server metric and the access log say `/`, never a raw path.
      setServerRoute(req, '/');
      const failed = failRate > 0 ? Math.floor(++n * failRate) > Math.floor((n - 1) * failRate) : failStatus !== undefined;
      const trace = { traceparent: req.headers.traceparent ?? null, tracestate: req.headers.tracestate ?? null, baggage: req.headers.baggage ?? null };
      // Every request has a trace id, with or without an SDK (the mesh starts one when none came): for the app's own logs.
      const traceId = getTraceId(req) ?? null;
      void (async () => {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        res.setHeader('content-type', 'application/json');
        if (failed) {
          res.statusCode = failStatus ?? 500;
          res.end(JSON.stringify({ service, instance, version, traceId, trace, error: 'injected failure' }));
          return;
        }
        const downstream: { service: string; status: number; body?: unknown; error?: string }[] = [];
        for (const s of calls) {
          try {
            const r = await mesh.request(`http://${s}${req.url ?? '/'}`);
            const text = await r.body.text();
            downstream.push({ service: s, status: r.statusCode, body: parse(text) });
          } catch (err) {
            downstream.push({ service: s, status: 0, error: (err as { code?: string }).code ?? String(err) });
          }
        }
        res.statusCode = downstream.every((d) => d.status === 200) ? 200 : 502;
        res.end(JSON.stringify({ service, instance, version, traceId, trace, calls: downstream }));
      })();
    }),
  );
  server.listen(Number(env.PORT ?? 0), '127.0.0.1');
  instance = (await mesh.registered(server))?.id ?? '-';
  console.log(`ready service=${service} instance=${instance} pid=${process.pid}`);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
