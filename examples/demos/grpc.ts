/**
 * `npm run demo -- grpc`: three instances of `greeter`, a grpc-js service joined to the mesh
 * (examples/grpc/server.ts), and `hello-web`, an HTTP service that calls it with `meshGrpcClient`
 * (examples/grpc/client.ts). This process calls hello-web over HTTP; each call crosses to gRPC there.
 * Printed: calls per greeter instance (the mesh's balancer spreads them), the caller identity greeter's
 * mTLS handshake proved, the budget that crossed the HTTP -> gRPC hop (this process's request timeout ->
 * x-hyphae-deadline-ms -> grpc-timeout), a server-streaming call, and a call from a caller the
 * AuthorizationPolicy does not name, refused with PERMISSION_DENIED.
 */
import * as grpc from '@grpc/grpc-js';
import type { Mesh } from 'hyphae';
import { meshGrpcClient } from 'hyphae/grpc';
import { Greeter, type HelloReply } from '../grpc/greeter.js';
import { runDemo, type DemoOptions } from '../lib/demo-session.js';
import { tally, waitUntil } from '../lib/demo-traffic.js';

const CALLS = 60;
/** examples/demos/grpc/resources.yaml: hello-web's `timeouts.request`. */
const BUDGET_MS = 1500;

interface HelloAnswer {
  budgetMs: number | null;
  greeter: HelloReply;
}
interface StreamAnswer {
  greeter: HelloReply[];
}

async function get<T>(client: Mesh, path: string, signal?: AbortSignal): Promise<T> {
  const res = await client.request(`http://hello-web${path}`, signal ? { signal } : {});
  const body = (await res.body.json()) as T & { message?: string };
  if (res.statusCode !== 200) throw new Error(`hello-web answered ${res.statusCode}: ${JSON.stringify(body)}`);
  return body;
}

export function run(options: DemoOptions): Promise<number> {
  return runDemo('hyphae demo grpc: this process -(HTTP)-> hello-web -(gRPC)-> greeter (3 instances), mTLS everywhere', options, async ({ mesh, log, client, apply }) => {
    const greeterToken = await mesh.tokenFor('greeter');
    const instances: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { ready } = await mesh.startService('examples/grpc/server.js', { HYPHAE_SERVICE: 'greeter', HYPHAE_TOKEN: greeterToken });
      instances.push(/instance=(\S+)/.exec(ready[0])![1]!);
      log(`  greeter (gRPC)  ${instances.at(-1)}`);
    }
    const { ready } = await mesh.startService('examples/grpc/client.js', { HYPHAE_SERVICE: 'hello-web', HYPHAE_TOKEN: await mesh.tokenFor('hello-web') });
    log(`  hello-web       ${/instance=(\S+)/.exec(ready[0])![1]} (HTTP; calls greeter with meshGrpcClient)`);
    const demo = await client();
    log('');
    await apply('examples/demos/grpc/resources.yaml', `calls to hello-web get ${BUDGET_MS} ms; only hello-web may call greeter`);
    log('');

    // Until hello-web's view of greeter holds all three instances (a new instance reaches a watcher within
    // moments): the calls below then show the balancer's spread, not discovery catching up.
    // A call may fail while hello-web's channel first connects; the last failure is told if it never settles.
    const seen = new Set<string>();
    let lastError: unknown;
    await waitUntil('hello-web reached every greeter instance', async () => {
      try {
        seen.add((await get<HelloAnswer>(demo, '/hello?name=warm-up')).greeter.instance);
      } catch (err) {
        lastError = err;
      }
      return instances.every((i) => seen.has(i));
    }).catch((err: Error) => Promise.reject(new Error(`${err.message} (seen ${[...seen].join(', ') || 'none'}; last failure: ${String(lastError)})`)));

    const callers = new Set<string>();
    const budgets: number[] = [];
    const grpcDeadlines: number[] = [];
    // Calls whose gRPC deadline was not within the HTTP request's budget (or either was missing): whole ms, floored at each hop.
    let notCrossed = 0;
    const t = await tally(CALLS, 4, async (signal) => {
      const a = await get<HelloAnswer>(demo, '/hello?name=demo', signal);
      callers.add(a.greeter.caller);
      if (a.budgetMs !== null) budgets.push(a.budgetMs);
      grpcDeadlines.push(a.greeter.deadlineMs);
      // Each hop's budget is at most the one before it: the deadline crossed to gRPC, not a default of its own.
      // grpc-js rounds a grpc-timeout up to the next whole ms, hence the 1 ms.
      if (a.budgetMs === null || a.budgetMs > BUDGET_MS || a.greeter.deadlineMs < 0 || a.greeter.deadlineMs > a.budgetMs + 1) notCrossed++;
      return a.greeter.instance;
    });
    log(`${CALLS} calls: this process -> hello-web (HTTP) -> greeter (gRPC), 4 at a time`);
    log('calls per greeter instance:');
    for (const i of instances) log(`  ${i.padEnd(22)} ${t.of(i)}`);
    log(`  failed                 ${t.failed}`);
    log(`greeter saw callers: ${[...callers].join(', ')}`);
    const range = (xs: number[]) => (xs.length ? `${Math.min(...xs)}-${Math.max(...xs)} ms` : 'none');
    log(
      `deadline: ${BUDGET_MS} ms budget -> hello-web got ${range(budgets)} (x-hyphae-deadline-ms) -> greeter's calls had ${range(grpcDeadlines)} left (grpc-timeout); calls outside the HTTP budget: ${notCrossed}`,
    );
    log('');

    const stream = await get<StreamAnswer>(demo, '/stream?name=demo&count=3');
    log(
      `server streaming: ${stream.greeter.length} messages from ${[...new Set(stream.greeter.map((r) => r.instance))].join(', ')}: ${stream.greeter.map((r) => JSON.stringify(r.message)).join(', ')}`,
    );

    // This process is a mesh service too (`demo`), but the policy names only hello-web.
    const direct = meshGrpcClient(demo, 'greeter');
    const greeter = new Greeter(direct.target, direct.credentials, direct.options);
    const refused = await new Promise<string>((resolve) => greeter.sayHello({ name: 'demo' }, { deadline: Date.now() + 10_000 }, (err) => resolve(err ? grpc.status[err.code] : 'OK'))).finally(() =>
      greeter.close(),
    );
    log(`this process -> greeter directly (gRPC, as spiffe://.../sa/demo): ${refused}`);

    const spread = instances.every((i) => t.of(i) > 0);
    const onlyHelloWeb = callers.size === 1 && [...callers][0]!.endsWith('/ns/default/sa/hello-web');
    const crossed = notCrossed === 0;
    const ok = t.failed === 0 && spread && onlyHelloWeb && crossed && stream.greeter.length === 3 && refused === 'PERMISSION_DENIED';
    return {
      ok,
      summary: ok ? 'every greeter instance answered over mTLS, every caller greeter saw was hello-web, the budget crossed HTTP -> gRPC, and another caller was refused' : 'see the figures above',
      keepCalling: [{ url: 'http://hello-web/hello?name=keep' }],
    };
  });
}
