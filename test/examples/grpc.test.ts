/**
 * `npm run demo -- grpc` as a user runs it (build/examples/demo.js grpc): it must exit 0, and its summary
 * must show what the example is for: every greeter instance answered, greeter saw hello-web's identity,
 * the HTTP budget reached the gRPC calls, a stream of three messages, and the uninvited caller refused.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { buildDir, startNode } from '../helpers/process.js';

/** A ceiling against a stalled demo (it takes seconds on an idle machine), never an expectation. */
const STALL_MS = 180_000;

it('demo grpc: HTTP -> gRPC across 3 greeter instances, hello-web as the caller, the deadline crossing, PERMISSION_DENIED for another caller', { timeout: STALL_MS + 30_000 }, async () => {
  const demo = startNode(path.join(buildDir, 'examples/demo.js'), ['grpc']);
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), STALL_MS)));
  const code = await Promise.race([demo.exited, stalled]);
  clearTimeout(timer);
  // SIGTERM: the demo stops its own children before it exits.
  if (code === 'stalled') await demo.kill('SIGTERM');
  const out = demo.lines.join('\n');
  assert.equal(code, 0, out);

  const started = [...out.matchAll(/^ {2}greeter \(gRPC\) +(127\.0\.0\.1:\d+)$/gm)].map((m) => m[1]);
  assert.equal(started.length, 3, out);
  const counts = [...out.matchAll(/^ {2}(127\.0\.0\.1:\d+) +(\d+)$/gm)].map((m) => ({ instance: m[1], calls: Number(m[2]) }));
  assert.deepEqual(
    counts.map((c) => c.instance),
    started,
    out,
  );
  const total = Number(/^(\d+) calls: this process -> hello-web/m.exec(out)?.[1]);
  assert.equal(
    counts.reduce((n, c) => n + c.calls, 0),
    total,
    out,
  );
  // 60 calls over 3 instances: a spread, not every call on one (P2C gives each a share).
  for (const c of counts) assert.ok(c.calls > 0, `${c.instance} got no call:\n${out}`);
  assert.match(out, /^ {2}failed +0$/m);
  assert.match(out, /^greeter saw callers: spiffe:\/\/[^/]+\/ns\/default\/sa\/hello-web$/m);
  const deadline = /^deadline: (\d+) ms budget -> hello-web got (\d+)-(\d+) ms .* greeter's calls had (\d+)-(\d+) ms left \(grpc-timeout\); calls outside the HTTP budget: 0$/m.exec(out);
  assert.ok(deadline, out);
  const [budget, , webMax, grpcMin, grpcMax] = deadline.slice(1).map(Number) as [number, number, number, number, number];
  // grpc-js rounds a grpc-timeout up to the next whole ms.
  assert.ok(webMax <= budget && grpcMin > 0 && grpcMax <= webMax + 1, out);
  assert.match(out, /^server streaming: 3 messages from 127\.0\.0\.1:\d+: "hello demo \(1 of 3\)", "hello demo \(2 of 3\)", "hello demo \(3 of 3\)"$/m);
  assert.match(out, /^this process -> greeter directly \(gRPC, as spiffe:\/\/\.\.\.\/sa\/demo\): PERMISSION_DENIED$/m);
  assert.match(out, /^demo ok/m);
});
