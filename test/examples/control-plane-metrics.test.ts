import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { buildDir, startNode } from '../helpers/process.js';

it('examples/control-plane-metrics: a viewer token reads /metrics on the API, the loopback listener needs none, the log is JSON, exit 0', async () => {
  const run = startNode(path.join(buildDir, 'examples/control-plane-metrics.js'));
  const code = await run.exited;
  const out = run.lines.join('\n');
  assert.equal(code, 0, out);
  assert.match(out, /^GET \/metrics with a viewer token: 200 text\/plain; version=0\.0\.4; charset=utf-8$/m);
  assert.match(out, /^ {2}hyphae_control_plane_http_requests_total\{route="\/v1\/tokens",method="POST",code="201"\} 1$/m);
  assert.match(out, /^ {2}hyphae_control_plane_registry_instances 0$/m);
  assert.match(out, /^GET http:\/\/127\.0\.0\.1:\d+\/metrics without a token: 200$/m);
  assert.match(out, /^first log line's fields: time, level, msg, component$/m);
  assert.match(out, /control-plane-metrics ok/);
});
