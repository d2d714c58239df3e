import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { buildDir, startNode } from '../helpers/process.js';

it('examples/plugins: the registered balancer picks, the filter sees every try, exit 0', async () => {
  const run = startNode(path.join(buildDir, 'examples/plugins.js'));
  const code = await run.exited;
  const out = run.lines.join('\n');
  assert.equal(code, 0, out);
  assert.equal([...out.matchAll(/^answer: [ab] try=\d$/gm)].length, 3, out);
  assert.match(out, /tries seen by the filter: 200 none, 200 none, 200 none/);
  assert.match(out, /plugins ok/);
});
