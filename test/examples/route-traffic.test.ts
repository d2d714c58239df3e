import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { buildDir, startNode } from '../helpers/process.js';

it('examples/route-traffic: top --routes and describe service show each rule of two Routes and [default], counted exactly, exit 0', async () => {
  const run = startNode(path.join(buildDir, 'examples/route-traffic.js'));
  const code = await run.exited;
  const out = run.lines.join('\n');
  assert.equal(code, 0, out);
  assert.match(out, /^SERVICE\s+ROUTE\s+RULE\s+RPS\s+SUCCESS\s+P50\s+P99\s+REQUESTS$/m);
  assert.match(out, /^api\s+api-items\s+list\s+\S+\s+100%\s+\S+\s+\S+\s+3$/m);
  assert.match(out, /^api\s+api-orders\s+api-orders\.0\s+\S+\s+50\.0%\s+\S+\s+\S+\s+2$/m);
  assert.match(out, /^api\s+\[default\]\s+-\s+\S+\s+100%\s+\S+\s+\S+\s+1$/m);
  assert.match(out, /^ {2}default\/api-orders api-orders\.0: 2 requests, 1 errors$/m);
  assert.match(out, /^ {2}\[default\] -: 1 requests, 0 errors$/m);
  assert.match(out, /route-traffic ok/);
});
