import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { buildDir, startNode } from '../helpers/process.js';

it('examples/tap: a tap of api shows web calling it, without the query, and ends at its duration with exit 0', { timeout: 180_000 }, async () => {
  const run = startNode(path.join(buildDir, 'examples/tap.js'));
  const code = await run.exited;
  const out = run.lines.join('\n');
  assert.equal(code, 0, out);
  assert.match(out, /^GET \/v1\/tap\/default\/api: 200 text\/event-stream; charset=utf-8$/m);
  assert.match(out, /^req src=spiffe:\/\/[^/]+\/ns\/default\/sa\/web dst=127\.0\.0\.1:\d+ :method=GET :path=\/items\/\d+ status=200 latency=[\d.]+ms$/m);
  assert.doesNotMatch(out, /never-shown/);
  assert.match(out, /^end \{"reason":"duration reached"\}$/m);
  const n = Number(/^samples: (\d+)/m.exec(out)?.[1]);
  assert.ok(n >= 1 && n <= 25, `${n} samples`);
  assert.match(out, /tap ok/);
});
