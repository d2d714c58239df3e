/**
 * A mesh client in its own process, for tests whose request may freeze the
 * process that sends it (a catastrophic route regex): the test waits for its
 * output lines with a timeout, and a frozen probe is killed rather than
 * freezing the test runner.
 *
 *   node build/test/helpers/route-probe.js '<json Plan>'   (HYPHAE_* from the environment)
 *
 * It first repeats `ready` until its answer comes from `ready.version` (the
 * route is in force), prints `ready`, then sends each request once, in order,
 * printing `answer <i> <status> <version> <ms>` (ms: the client's own time
 * for the call, from send to end of body).
 */
import { createMesh, meshOptionsFromEnv } from '../../src/index.js';

export interface ProbeRequest {
  path: string;
  headers?: Record<string, string>;
}

export interface ProbePlan {
  ready: ProbeRequest & { version: string; timeoutMs: number };
  requests: ProbeRequest[];
}

const plan = JSON.parse(process.argv[2]!) as ProbePlan;
const mesh = await createMesh({ ...meshOptionsFromEnv(), service: 'route-probe' });

async function send(r: ProbeRequest): Promise<{ status: number; version: string; ms: number }> {
  const started = performance.now();
  const res = await mesh.request(`http://api${r.path}`, { headers: r.headers ?? {} });
  const text = await res.body.text();
  const ms = performance.now() - started;
  const version = res.statusCode === 200 ? (JSON.parse(text) as { version: string }).version : '-';
  return { status: res.statusCode, version, ms };
}

const deadline = performance.now() + plan.ready.timeoutMs;
for (;;) {
  const a = await send(plan.ready);
  if (a.version === plan.ready.version) break;
  if (performance.now() > deadline) {
    console.log(`not ready: the ready request still answered by ${a.version} after ${plan.ready.timeoutMs} ms`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 20));
}
console.log('ready');
for (const [i, r] of plan.requests.entries()) {
  const a = await send(r);
  console.log(`answer ${i} ${a.status} ${a.version} ${a.ms.toFixed(1)}`);
}
await mesh.close();
