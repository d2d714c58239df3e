import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RESTART_HOLD_FILE, RestartHold } from '../../../src/control-plane/registry/restart-hold.js';

describe('the restart hold', () => {
  let dir: string;
  const lines: string[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-hold-'));
    await writeFile(path.join(dir, RESTART_HOLD_FILE), JSON.stringify({ services: ['default/api', 'default/web'] }));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("holds a service's snapshot until one of this cluster's own instances is back; instances imported from a peer do not end it", async () => {
    const hold = await RestartHold.open(dir, 60_000, (l) => lines.push(l));
    try {
      assert.match(lines.join('\n'), /holding empty snapshots of 2 services/);
      assert.equal(hold.held('default/api', { instances: [] }), true);
      // Only dc2's instances (its last exports, kept on disk): pushing them would send every caller to dc2.
      assert.equal(hold.held('default/api', { instances: [{ cluster: 'dc2' }] }), true);
      assert.equal(hold.held('default/api', { instances: [{ cluster: 'dc2' }, {}] }), false);
      // Released for good: from now on api's snapshots go out as they are.
      assert.equal(hold.held('default/api', { instances: [] }), false);
      assert.equal(hold.held('default/web', { instances: [] }), true);
      assert.equal(hold.held('default/other', { instances: [] }), false);
    } finally {
      await hold.close();
    }
  });
});
