import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { buildDir, startNode } from '../helpers/process.js';

it('examples/proxy: a Python app behind hyphae proxy is called over mTLS, sees its caller, calls api through the proxy, exit 0', async () => {
  const run = startNode(path.join(buildDir, 'examples/proxy.js'));
  const code = await run.exited;
  const out = run.lines.join('\n');
  assert.equal(code, 0, out);
  assert.match(out, /^legacy \(Python\) answered 200$/m);
  assert.match(out, /^python saw its caller as spiffe:\/\/[^/]+\/ns\/default\/sa\/web$/m);
  assert.match(out, /^python called api through the proxy; api saw spiffe:\/\/[^/]+\/ns\/default\/sa\/legacy$/m);
  assert.match(out, /^proxy exit code 0$/m);
  assert.match(out, /proxy example ok/);
});
