/**
 * Issue 18, gRPC through the mesh end to end: three grpc-js `api` instances (child processes, joined with
 * serveGrpc) on a control plane with mTLS, called by grpc-js clients made with meshGrpcClient. Shows the
 * issue's list: an even spread, a SIGKILLed instance costing no failed unary call, server streaming, a
 * 3-hop deadline (HTTP -> gRPC -> HTTP) answering at the budget and cancelling the last hop, and an
 * AuthorizationPolicy on a method path refusing another caller with PERMISSION_DENIED.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { meshGrpcClient } from '../../src/grpc/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { apply, meta } from '../helpers/gateway.js';
import { buildDir, startNode, type Child } from '../helpers/process.js';
import { EchoClient, serverStream, unary, type EchoClientType } from '../helpers/grpc-echo.js';

/** A ceiling against a stall, never an expectation. */
const STALL_MS = 20_000;
const BUDGET_MS = 1_500;

let cp: RunningControlPlane;
let web: Mesh;
let intruder: Mesh;
let front: Mesh;
let leafMesh: Mesh;
let client: EchoClientType;
let intruderClient: EchoClientType;
let frontClient: EchoClientType;
const instances: { child: Child; id: string }[] = [];
const leafSeen: { deadlineHeader: number; closedAfterMs: Promise<number> }[] = [];

async function startInstance(): Promise<{ child: Child; id: string }> {
  const child = startNode(path.join(buildDir, 'test/helpers/grpc-service.js'), [], { ...(await cp.env('api')), HYPHAE_DRAIN_DELAY_MS: '0' });
  const m = await child.waitFor(/ready service=api instance=(\S+)/, 60_000);
  return { child, id: m[1]! };
}

function clientOf(mesh: Mesh): EchoClientType {
  const { target, credentials, options } = meshGrpcClient(mesh, 'api');
  return new EchoClient(target, credentials, options);
}

async function listen(mesh: Mesh, handler: http.RequestListener): Promise<void> {
  const server = mesh.wrapServer(http.createServer(handler));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await mesh.registered(server);
}

before(async () => {
  cp = await startControlPlane();
  await apply(
    cp,
    // Only web may call Admin: the DENY names the other caller.
    {
      apiVersion: 'hyphae.dev/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta('api-admin'),
      spec: {
        selector: { service: 'api' },
        action: 'DENY',
        rules: [{ from: { principals: ['spiffe://hyphae.local/ns/default/sa/intruder'] }, to: { paths: [{ type: 'Exact', value: '/test.Echo/Admin' }] } }],
      },
    },
    // round_robin: the even spread the issue asks for is the balancer's to keep. Under the default peak_ewma a
    // child process the busy machine slows gets fewer calls, as it should (test/grpc/client.test.ts covers it).
    { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: meta('api'), spec: { loadBalancer: 'round_robin' } },
    // The first hop's budget: web's calls to front carry it as x-hyphae-deadline-ms.
    { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: meta('front'), spec: { timeouts: { request: `${BUDGET_MS}ms` } } },
  );
  instances.push(...(await Promise.all([startInstance(), startInstance(), startInstance()])));
  const opts = async (service: string) => ({ ...(await cp.meshOptions(service)), logger: silentLogger, server: { drainDelayMs: 0 } });
  [web, intruder, front, leafMesh] = await Promise.all([createMesh(await opts('web')), createMesh(await opts('intruder')), createMesh(await opts('front')), createMesh(await opts('leaf'))]);
  // leaf never answers /slow on its own: the only way the request ends is its caller cancelling it.
  await listen(leafMesh, (req, res) => {
    const started = performance.now();
    const closedAfterMs = new Promise<number>((resolve) => res.once('close', () => resolve(performance.now() - started)));
    leafSeen.push({ deadlineHeader: Number(req.headers['x-hyphae-deadline-ms']), closedAfterMs });
    const ceiling = setTimeout(() => res.end('too late'), STALL_MS);
    res.once('close', () => clearTimeout(ceiling));
  });
  frontClient = clientOf(front);
  await listen(front, (_req, res) => {
    unary(frontClient, '/test.Echo/Chain', {}).then(
      (r) => res.end(JSON.stringify(r)),
      (err: grpc.ServiceError) => {
        res.statusCode = err.code === grpc.status.DEADLINE_EXCEEDED ? 504 : 502;
        res.end(grpc.status[err.code]);
      },
    );
  });
  client = clientOf(web);
  intruderClient = clientOf(intruder);
});

after(async () => {
  for (const c of [client, intruderClient, frontClient]) c?.close();
  await Promise.all([web, intruder, front, leafMesh].map((m) => m?.close()));
  await Promise.all(instances.map((i) => i.child.kill('SIGKILL')));
  await cp?.stop();
});

/** `count` unary Echo calls, `concurrency` at a time; the replies, and the errors. */
interface Reply {
  instance: string;
  peer: string | null;
  seq?: number;
}

async function echoMany(count: number, concurrency: number, onReply?: (done: number) => void): Promise<{ replies: Reply[]; errors: unknown[] }> {
  const replies: Reply[] = [];
  const errors: unknown[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        try {
          replies.push((await unary(client, '/test.Echo/Unary', {}, { deadline: Date.now() + STALL_MS })) as unknown as Reply);
        } catch (err) {
          errors.push(err);
        }
        onReply?.(replies.length + errors.length);
      }
    }),
  );
  return { replies, errors };
}

function perInstance(replies: Reply[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of replies) counts.set(r.instance, (counts.get(r.instance) ?? 0) + 1);
  return counts;
}

it('calls by name spread evenly over three instances, and each sees the caller identity', async () => {
  const { replies, errors } = await echoMany(300, 6);
  assert.deepEqual(errors, []);
  const counts = perInstance(replies);
  assert.deepEqual([...counts.keys()].sort(), instances.map((i) => i.id).sort());
  // Even: round robin over the READY connections; the first calls may find one or two not connected yet.
  for (const [id, n] of counts) assert.ok(n >= 80, `${id} got ${n} of 300: ${JSON.stringify([...counts])}`);
  assert.deepEqual(new Set(replies.map((r) => r.peer)), new Set(['spiffe://hyphae.local/ns/default/sa/web']));
});

it('server streaming: one call, every message from one instance', async () => {
  const got = (await serverStream(client, '/test.Echo/ServerStream', { n: 5 }, { deadline: Date.now() + STALL_MS })) as unknown as Reply[];
  assert.deepEqual(
    got.map((m) => m.seq),
    [0, 1, 2, 3, 4],
  );
  assert.equal(new Set(got.map((m) => m.instance)).size, 1);
});

it('an AuthorizationPolicy on a method path refuses another caller with PERMISSION_DENIED', async () => {
  assert.equal((await unary(client, '/test.Echo/Admin', {})).peer, 'spiffe://hyphae.local/ns/default/sa/web');
  await assert.rejects(unary(intruderClient, '/test.Echo/Admin', {}), (err: grpc.ServiceError) => err.code === grpc.status.PERMISSION_DENIED);
  // The policy names one method: the intruder's other calls pass.
  assert.equal((await unary(intruderClient, '/test.Echo/Unary', {})).peer, 'spiffe://hyphae.local/ns/default/sa/intruder');
});

it('a 3-hop deadline (HTTP -> gRPC -> HTTP) answers at the budget and cancels the last hop', async () => {
  const started = performance.now();
  const outcome = await web.request('http://front/chain').then(
    async (res) => `${res.statusCode} ${await res.body.text()}`,
    (err: { code?: string }) => String(err.code),
  );
  const elapsed = performance.now() - started;
  // front answers 504 when its gRPC call ran out of time; web's own timer (the same budget) may fire first.
  assert.ok(outcome === '504 DEADLINE_EXCEEDED' || outcome === 'HYPHAE_ERR_DEADLINE_EXCEEDED', outcome);
  assert.ok(elapsed >= BUDGET_MS - 100, `answered after ${elapsed} ms, before the ${BUDGET_MS} ms budget`);
  assert.ok(elapsed < BUDGET_MS + STALL_MS, `answered after ${elapsed} ms`);
  // The last hop got the budget (less what the first two hops spent) and was cancelled, not left running.
  assert.equal(leafSeen.length, 1);
  const leaf = leafSeen[0]!;
  assert.ok(leaf.deadlineHeader > 0 && leaf.deadlineHeader <= BUDGET_MS, `leaf's x-hyphae-deadline-ms: ${leaf.deadlineHeader}`);
  const closedAfter = await leaf.closedAfterMs;
  assert.ok(closedAfter < STALL_MS, `leaf's request was left running for ${closedAfter} ms`);
});

it('a SIGKILLed instance costs no failed unary call but one whose answer had begun; the calls after it go to the two left', async () => {
  // Under round_robin, as the spread test: a call on the victim when it dies is retried, and its retry avoids
  // the endpoint it failed on (its subchannel may still be READY), rather than come round to it again.
  const victim = instances[2]!;
  let killed: Promise<unknown> | undefined;
  const { replies, errors } = await echoMany(600, 6, (done) => {
    if (done === 150) killed = victim.child.kill('SIGKILL');
  });
  await killed;
  // gRPC's commit rule: a call whose answer had begun (headers in, trailers lost with the instance) is not tried
  // again, since the server may have acted on it; the client says so in the details. Only those may fail, and
  // only the calls in flight at the kill can be among them.
  const committed = errors.filter((e) => (e as grpc.ServiceError).details?.endsWith('(not retried: the answer had begun)'));
  console.log(`SIGKILL under 600 calls, 6 at a time: ${errors.length} failed, of which ${committed.length} after their answer had begun`);
  assert.deepEqual(
    errors.filter((e) => !committed.includes(e)).map((e) => String(e)),
    [],
  );
  assert.ok(committed.length <= 6, `${committed.length} calls lost with their answer begun: more than were in flight`);
  assert.equal(replies.length + errors.length, 600);
  const after = perInstance(replies.slice(-200));
  assert.equal(after.get(victim.id), undefined, `the killed instance still answered: ${JSON.stringify([...after])}`);
  assert.equal(after.size, 2);
});
