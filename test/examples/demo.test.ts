import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { buildDir, startNode } from '../helpers/process.js';

it('npm run demo: every api instance answers, the rolling restart loses nothing, exit 0', async () => {
  const demo = startNode(path.join(buildDir, 'examples/demo.js'));
  const code = await demo.exited;
  const out = demo.lines.join('\n');
  assert.equal(code, 0, out);
  const perInstance = [...out.matchAll(/^ {2}(\S+:\d+)\s+v\d\s+(\d+)$/gm)].map((m) => Number(m[2]));
  assert.equal(perInstance.length, 3, out);
  assert.ok(
    perInstance.every((n) => n > 0),
    out,
  );
  assert.match(out, /calls during the restart: (\d+) ok, 0 failed/);
  assert.match(out, /demo ok/);
});
