/**
 * The policy source of a server wrapped before its mesh started: it subscribes
 * once the start succeeds, retries a failed start with backoff (1 s doubling),
 * gives up on a closed mesh, and its disposer stops everything. Node's mocked
 * setTimeout stands in for time.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it, mock } from 'node:test';
import type { AuthorizationPolicyResource } from '../../src/config/resources.js';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import { lazyPolicySource } from '../../src/mesh/lazy-policy-source.js';
import type { PolicySource } from '../../src/server/policy-source.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

/** Lets the promise callbacks of a start that just settled run (setImmediate is not mocked). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const down = () => Promise.reject(new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, 'down'));
const POLICY = { metadata: { name: 'p' } } as unknown as AuthorizationPolicyResource;

function fakeSource(): PolicySource & { listeners: number } {
  const source = {
    listeners: 0,
    subscribe(listener: (p: readonly AuthorizationPolicyResource[]) => void) {
      source.listeners++;
      listener([POLICY]);
      return () => void source.listeners--;
    },
  };
  return source;
}

it("retries a failed start after 1 s, 2 s, 4 s..., then subscribes to the started mesh's source", async () => {
  const source = fakeSource();
  let starts = 0;
  const upAt = 3;
  const heard: (readonly AuthorizationPolicyResource[])[] = [];
  const dispose = lazyPolicySource(() => (++starts < upAt ? down() : Promise.resolve(source))).subscribe((p) => heard.push(p));
  await settle();
  assert.equal(starts, 1);
  mock.timers.tick(999);
  await settle();
  assert.equal(starts, 1, 'not before 1 s');
  mock.timers.tick(1);
  await settle();
  assert.equal(starts, 2);
  mock.timers.tick(1_999);
  await settle();
  assert.equal(starts, 2, 'then 2 s');
  mock.timers.tick(1);
  await settle();
  assert.equal(starts, 3);
  assert.deepEqual(heard, [[POLICY]]);
  assert.equal(source.listeners, 1);
  dispose();
  assert.equal(source.listeners, 0, 'the disposer ends the subscription');
});

it('a mesh without policies to enforce (no source) is told "none" at once', async () => {
  const heard: (readonly AuthorizationPolicyResource[])[] = [];
  lazyPolicySource(() => Promise.resolve(undefined)).subscribe((p) => heard.push(p));
  await settle();
  assert.deepEqual(heard, [[]]);
});

it('a closed mesh is not retried, and a disposer called while waiting stops the retries', async () => {
  let closedStarts = 0;
  lazyPolicySource(() => {
    closedStarts++;
    return Promise.reject(new MeshError(ErrorCode.MESH_CLOSED, 'closed'));
  }).subscribe(() => assert.fail('no policies from a closed mesh'));
  let downStarts = 0;
  const dispose = lazyPolicySource(() => {
    downStarts++;
    return down();
  }).subscribe(() => assert.fail('never started'));
  await settle();
  dispose();
  mock.timers.tick(60_000);
  await settle();
  assert.equal(closedStarts, 1);
  assert.equal(downStarts, 1);
});
