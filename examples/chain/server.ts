/**
 * A service for resilience demos and scenarios, built with the library like any
 * other: it may call the next service of a chain, hang, or call a service in a
 * loop — and it tells what happened to its requests.
 *
 *   HYPHAE_CONTROL_PLANE=https://127.0.0.1:15010 HYPHAE_SERVICE=b HYPHAE_TOKEN=<join token for b> \
 *   HYPHAE_CA_FILE=.hyphae/control-plane/ca-bundle.pem NEXT=c node build/examples/chain/server.js
 *
 * Environment (besides HYPHAE_*):
 *   NEXT          a service to call for each request (same path); its status is answered
 *                 (504 when the call ran out of time, 502 when it failed otherwise)
 *   HANG=1        never answer (until the caller goes away); /hang does the same per request
 *   /status/<code>  answer that status (a failing backend)
 *   LOAD=<svc>    call <svc> LOAD_RPS times a second (default 20) in the background, and print
 *                 `load ok=<n> failed=<n> <first errors>` every second
 *   MAX_CONCURRENT, DEFAULT_TIMEOUT_MS   wrapServer's load shedding and default deadline
 *   PORT          port to listen on (default: any)
 *
 * Prints `ready service=<name> port=<port>` once listening (registration may
 * still be under way, e.g. while the control plane is down), then
 * `registered instance=<id>`; for every request cancelled by its caller before
 * the answer, `aborted path=<path> after=<ms>`. GET /stats answers (and SIGUSR2
 * prints, as `stats {...}`) `{ requests, inflight, served, aborted }`: requests
 * that arrived, are in progress, were answered, were cancelled by their caller.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMesh, getRemainingMs, meshOptionsFromEnv } from 'hyphae';

const env = process.env;
const next = env.NEXT;
const hangAll = env.HANG === '1';
// The mesh's own events (a control plane unreachable, a start from the cache, registration) as lines on stdout.
const line = (level: string) => (msg: string, fields?: Record<string, unknown>) => console.log(`${level} ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
const logger = { debug: () => {}, info: line('info'), warn: line('warn'), error: line('error') };
const mesh = await createMesh({ ...meshOptionsFromEnv(), logger });
mesh.handleSignals();
const service = mesh.options.service ?? 'chain';

const stats = { requests: 0, inflight: 0, served: 0, aborted: 0 };
process.on('SIGUSR2', () => console.log(`stats ${JSON.stringify(stats)}`));

const server = mesh.wrapServer(
  http.createServer((req, res) => {
    if (req.url === '/stats') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(stats));
      return;
    }
    const t0 = performance.now();
    stats.requests++;
    stats.inflight++;
    res.on('close', () => {
      stats.inflight--;
      if (res.writableFinished) stats.served++;
      else {
        stats.aborted++;
        console.log(`aborted path=${req.url} after=${(performance.now() - t0).toFixed(1)}`);
      }
    });
    if (hangAll || req.url?.startsWith('/hang')) return; // never answered: the caller's deadline or abort ends it
    const status = /^\/status\/(\d{3})/.exec(req.url ?? '');
    if (status) {
      res.statusCode = Number(status[1]);
      res.end(JSON.stringify({ service, status: res.statusCode }));
      return;
    }
    if (!next) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ service, remainingMs: getRemainingMs() ?? null }));
      return;
    }
    void (async () => {
      try {
        // A mesh call made while handling this request: at most the time it has left, cancelled with it.
        const r = await mesh.request(`http://${next}${req.url}`);
        const body = await r.body.text();
        res.statusCode = r.statusCode;
        res.end(body);
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'ERROR';
        res.statusCode = code === 'HYPHAE_ERR_DEADLINE_EXCEEDED' ? 504 : 502;
        res.end(JSON.stringify({ service, error: code, message: (err as Error).message, tookMs: Math.round(performance.now() - t0) }));
      }
    })();
  }),
  {
    ...(env.MAX_CONCURRENT ? { maxConcurrent: Number(env.MAX_CONCURRENT) } : {}),
    ...(env.DEFAULT_TIMEOUT_MS ? { defaultTimeoutMs: Number(env.DEFAULT_TIMEOUT_MS) } : {}),
  },
);
server.listen(Number(env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`ready service=${service} port=${(server.address() as AddressInfo).port}`);
});
mesh.registered(server).then(
  (r) => console.log(`registered instance=${r?.id ?? '?'}`),
  (err: unknown) => console.log(`registration failed: ${String(err)}`),
);

if (env.LOAD) {
  const target = env.LOAD;
  const rps = Number(env.LOAD_RPS ?? 20);
  const load = { ok: 0, failed: 0, errors: [] as string[] };
  let inflight = 0;
  const tick = setInterval(() => {
    if (inflight >= 50) return;
    inflight++;
    mesh
      .request(`http://${target}/`, { signal: AbortSignal.timeout(10_000) })
      .then(async (r) => {
        await r.body.dump();
        if (r.statusCode === 200) load.ok++;
        else {
          load.failed++;
          if (load.errors.length < 5) load.errors.push(`status ${r.statusCode}`);
        }
      })
      .catch((err: unknown) => {
        load.failed++;
        if (load.errors.length < 5) load.errors.push((err as { code?: string }).code ?? String(err));
      })
      .finally(() => inflight--);
  }, 1000 / rps);
  const report = setInterval(() => console.log(`load ok=${load.ok} failed=${load.failed} ${load.errors.join(',')}`), 1000);
  process.once('SIGTERM', () => {
    clearInterval(tick);
    clearInterval(report);
  });
}
