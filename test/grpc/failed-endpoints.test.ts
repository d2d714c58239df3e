/**
 * A meshed gRPC call's retry avoids the endpoint its failed attempt used (issue 18 follow-up), end to end:
 * three grpc-js instances served through serveGrpc on a control plane with mTLS, one answering every call
 * UNAVAILABLE, under round_robin with outlier detection off (so the failing one keeps its turn and its
 * subchannel stays READY, as a dying instance's does). Each instance records, per call, that an attempt
 * reached it and with which metadata: every retried call's second attempt is on another instance, and no
 * instance ever sees the private key that told the picker.
 *
 * Without the avoidance this fails most runs: three calls at once take three round_robin turns, and a
 * retry takes the fourth, the same instance as the first of the three.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { meshGrpcClient } from '../../src/grpc/index.js';
import { FAILED_ENDPOINTS_KEY } from '../../src/grpc/failed-endpoints.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { apply, meta } from '../helpers/gateway.js';
import { waitUntil } from '../helpers/wait.js';
import { echo, EchoClient, startEcho, type EchoInstance } from '../helpers/grpc-instances.js';

/** A ceiling against a stall, never an expectation. */
const STALL_MS = 20_000;
const ROUNDS = 20;

let cp: RunningControlPlane;
let flaky: Mesh;
let web: Mesh;
let client: EchoClient;
const instances: EchoInstance[] = [];
/** Per call id: the instance each attempt reached, in order, and the metadata keys it arrived with. */
const attempts = new Map<number, { instance: string; keys: string[] }[]>();

before(async () => {
  cp = await startControlPlane();
  await apply(cp, {
    apiVersion: 'hyphae.dev/v1',
    kind: 'Service',
    metadata: meta('flaky'),
    spec: {
      loadBalancer: 'round_robin',
      // The failing instance keeps its turn; every call's one retry is allowed, and soon.
      outlierDetection: { enabled: false },
      retryBudget: { percent: 100, minPerSecond: 1000 },
      retries: { attempts: 2, backoff: { base: 1, max: 5 } },
    },
  });
  flaky = await createMesh({ ...(await cp.meshOptions('flaky')), logger: silentLogger, server: { drainDelayMs: 0 } });
  web = await createMesh({ ...(await cp.meshOptions('web')), logger: silentLogger });
  for (const name of ['a', 'b', 'c']) {
    const instance = await startEcho(flaky, name);
    instance.onCall = (call) => {
      const id = Number(call.request.id);
      const list = attempts.get(id) ?? [];
      list.push({ instance: name, keys: Object.keys(call.metadata.getMap()) });
      attempts.set(id, list);
    };
    instances.push(instance);
  }
  const { target, credentials, options } = meshGrpcClient(web, 'flaky');
  client = new EchoClient(target, credentials, options);
  // Every instance discovered and connected, and the Service's retry policy in force, before b goes bad.
  const dest = (await web.adapterHost().started()).destinations.get('flaky');
  let warm = -1;
  await waitUntil(
    async () => {
      const seen = await Promise.all([echo(client, { id: warm-- }), echo(client, { id: warm-- }), echo(client, { id: warm-- })]);
      return new Set(seen.map((r) => r.instance)).size === 3 && dest?.loadBalancer === 'round_robin';
    },
    STALL_MS,
    'three instances answering under round_robin',
  );
  instances[1]!.failWith = grpc.status.UNAVAILABLE;
});

after(async () => {
  client?.close();
  for (const i of instances) i.server.forceShutdown();
  await web?.close();
  await flaky?.close();
  await cp?.stop();
});

it("every retried call's second attempt reaches another instance; no instance sees the private key", async () => {
  const answered: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const ids = [3 * round + 1, 3 * round + 2, 3 * round + 3];
    // Three calls at once: three round_robin turns, so the retry of the one on b comes round to b again.
    for (const reply of await Promise.all(ids.map((id) => echo(client, { id }, STALL_MS)))) answered.push(reply.instance);
  }
  assert.equal(answered.length, 3 * ROUNDS);
  assert.ok(!answered.includes('b'), 'b answered a call');
  let retried = 0;
  for (let id = 1; id <= 3 * ROUNDS; id++) {
    const went = attempts.get(id)?.map((a) => a.instance) ?? [];
    assert.ok(went.length === 1 || went.length === 2, `call ${id}: ${JSON.stringify(went)}`);
    if (went.length === 2) {
      retried++;
      assert.equal(went[0], 'b', `call ${id} was retried after ${went[0]}`);
      assert.notEqual(went[1], 'b', `call ${id}'s retry went back to b`);
    } else {
      assert.notEqual(went[0], 'b', `call ${id} failed on b and was not retried`);
    }
  }
  // Round_robin gives b about one call in three: a test that retried nothing would prove nothing.
  assert.ok(retried >= ROUNDS / 2, `${retried} calls retried`);
  for (const [id, list] of attempts) for (const a of list) assert.ok(!a.keys.includes(FAILED_ENDPOINTS_KEY), `call ${id} reached ${a.instance} with the key`);
});

it("a caller's own metadata under the key only makes its call avoid what it names, and never reaches the server", async () => {
  const bad = instances[1]!;
  for (let id = 1001; id <= 1006; id++) {
    const metadata = new grpc.Metadata();
    metadata.set('x-app', 'mine');
    metadata.add(FAILED_ENDPOINTS_KEY, `127.0.0.1:${bad.port}`);
    metadata.add(FAILED_ENDPOINTS_KEY, 'not an address');
    const reply = await echo(client, { id }, STALL_MS, metadata);
    assert.notEqual(reply.instance, 'b');
    // b was avoided from the first attempt: one attempt, at a good instance, with the caller's other metadata.
    const list = attempts.get(id)!;
    assert.equal(list.length, 1, `call ${id}: ${JSON.stringify(list)}`);
    assert.ok(list[0]!.keys.includes('x-app'), `call ${id} arrived without its metadata: ${JSON.stringify(list[0]!.keys)}`);
    assert.ok(!list[0]!.keys.includes(FAILED_ENDPOINTS_KEY), `call ${id} arrived with the key`);
  }
});
