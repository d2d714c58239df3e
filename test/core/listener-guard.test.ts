/**
 * The figures core/listener-guard.ts derives: the default connection cap from
 * the open-file limit, and how often Node is made to look for expired
 * requests. The behaviour on real sockets is proven in
 * test/control-plane/listeners.test.ts and test/server/listener-limits.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { checkingIntervalMs, DEFAULT_MAX_CONNECTIONS, maxConnectionsFor, openFileLimit } from '../../src/core/listener-guard.js';

it('keeps the default cap below the open-file limit, with a reserve for everything else', () => {
  assert.equal(maxConnectionsFor(undefined), DEFAULT_MAX_CONNECTIONS, 'unknown limit (not Linux): the fixed default');
  assert.equal(maxConnectionsFor(1_048_576), DEFAULT_MAX_CONNECTIONS);
  assert.equal(maxConnectionsFor(200), 136, '64 kept for files, the store, outgoing calls');
  assert.equal(maxConnectionsFor(1024), 921, 'a tenth kept');
  assert.equal(maxConnectionsFor(4096), 3686);
  assert.equal(maxConnectionsFor(20), 16, 'never below 16');
});

it('reads the soft open-file limit from /proc/<pid>/limits', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-limits-'));
  try {
    const file = path.join(dir, 'limits');
    await writeFile(file, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            200                  4096                 files\n');
    assert.equal(openFileLimit(file), 200);
    await writeFile(file, 'Max open files            unlimited            unlimited            files\n');
    assert.equal(openFileLimit(file), undefined);
    assert.equal(openFileLimit(path.join(dir, 'missing')), undefined);
    if (process.platform === 'linux') assert.ok(openFileLimit()! > 0, 'this process has one');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('checks for expired requests a tenth of the shorter timeout, between 25 ms and 1 s', () => {
  assert.equal(checkingIntervalMs(10_000, 30_000), 1_000, "Node's default is 30 s: a 10 s timeout fired at 10..40 s");
  assert.equal(checkingIntervalMs(1_000, 2_000), 100);
  assert.equal(checkingIntervalMs(100, 100), 25);
  assert.equal(checkingIntervalMs(0, 5_000), 500, '0 is off, not the shortest');
  assert.equal(checkingIntervalMs(0, 0), 1_000);
});
