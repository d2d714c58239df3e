import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { buildDir, startNode } from '../helpers/process.js';

it('examples/lazy-start: wrapServer before the control plane, a call fails while it is down, works once it is up, exit 0', async () => {
  const run = startNode(path.join(buildDir, 'examples/lazy-start.js'));
  const code = await run.exited;
  const out = run.lines.join('\n');
  assert.equal(code, 0, out);
  assert.match(out, /^started before the control plane: false$/m);
  assert.match(out, /^a call while the control plane is down: HYPHAE_ERR_CONTROL_PLANE_UNREACHABLE$/m);
  assert.match(out, /^registered as 127\.0\.0\.1:\d+; started: true$/m);
  assert.match(out, /^answer: hello from a lazily started mesh$/m);
  assert.match(out, /lazy-start ok/);
});
