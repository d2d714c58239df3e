/** The embedded file store, in process: durability, atomicity, all-or-nothing writes, clear load errors. */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { ErrorCode, isMeshError } from '../../src/core/errors.js';
import { resourceSchema, type Resource } from '../../src/config/resources.js';
import { FileStore, STORE_FILE, type StoreChange } from '../../src/control-plane/index.js';
import { makeTempDir } from '../helpers/control-plane.js';

const svc = (name: string, labels?: Record<string, string>): Resource => resourceSchema.parse({ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: labels ? { name, labels } : { name } });

const dirs: string[] = [];
const stores: FileStore[] = [];
async function open(dir?: string): Promise<FileStore> {
  const d = dir ?? (await makeTempDir('hyphae-store-'));
  if (!dirs.includes(d)) dirs.push(d);
  const store = new FileStore(d);
  stores.push(store);
  await store.load();
  return store;
}

describe('FileStore', () => {
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  after(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('persists resources and the revision; a new store on the same directory reads them back', async () => {
    const store = await open();
    const changes: StoreChange[] = [];
    store.onChange((c) => changes.push(c));
    assert.equal(store.revision(), 0);
    const r1 = await store.apply([svc('a'), svc('b')]);
    assert.equal(r1.revision, 1);
    assert.deepEqual(
      r1.results.map((r) => r.action),
      ['created', 'created'],
    );
    const r2 = await store.apply([svc('a', { x: '1' }), svc('b')]);
    assert.deepEqual(
      r2.results.map((r) => r.action),
      ['updated', 'unchanged'],
    );
    assert.equal(await store.delete({ kind: 'Service', namespace: 'default', name: 'b' }), 3);
    assert.equal(await store.delete({ kind: 'Service', namespace: 'default', name: 'b' }), undefined);
    assert.deepEqual(
      changes.map((c) => `${c.revision}:${c.changes.map((x) => `${x.name}/${x.action}`).join(',')}`),
      ['1:a/created,b/created', '2:a/updated', '3:b/deleted'],
    );
    await store.close();

    const reopened = await open(store.dir);
    assert.equal(reopened.revision(), 3);
    assert.deepEqual(
      reopened.list().map((s) => [s.resource.metadata.name, s.revision, s.resource.metadata.labels]),
      [['a', 2, { x: '1' }]],
    );
  });

  it('leaves no temporary files behind, and the file is readable JSON', async () => {
    const store = await open();
    for (let i = 0; i < 10; i++) await store.apply([svc(`s${i}`)]);
    assert.deepEqual((await readdir(store.dir)).sort(), ['lock', STORE_FILE]);
    await store.close();
    assert.deepEqual(await readdir(store.dir), [STORE_FILE], 'the lock goes with close()');
    const json = JSON.parse(await readFile(path.join(store.dir, STORE_FILE), 'utf8')) as { format: number; revision: number; items: unknown[] };
    assert.equal(json.format, 1);
    assert.equal(json.revision, 10);
    assert.equal(json.items.length, 10);
  });

  it('serialises concurrent writes: every one gets its own revision and all land', async () => {
    const store = await open();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.apply([svc(`c${i}`)])));
    assert.deepEqual(
      results.map((r) => r.revision).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await store.close();
    const reopened = await open(store.dir);
    assert.equal(reopened.list().length, 20);
    assert.equal(reopened.revision(), 20);
  });

  it('is all-or-nothing: a failed write leaves memory unchanged and no temporary file', async () => {
    const store = await open();
    await store.apply([svc('kept')]);
    // A non-empty directory where the file should be makes the rename fail.
    await rm(store.file);
    await mkdir(path.join(store.file, 'blocker'), { recursive: true });
    await assert.rejects(store.apply([svc('lost'), svc('kept', { v: '2' })]));
    assert.equal(store.revision(), 1);
    assert.deepEqual(
      store.list().map((s) => [s.resource.metadata.name, s.resource.metadata.labels]),
      [['kept', undefined]],
    );
    const leftovers = (await readdir(store.dir)).filter((n) => n.endsWith('.tmp'));
    assert.deepEqual(leftovers, [], 'the temporary file of the failed write is removed');
  });

  it('compare-and-swap: a write at a stale expected revision is refused', async () => {
    const store = await open();
    await store.apply([svc('one')]);
    await assert.rejects(store.apply([svc('two')], { expectedRevision: 0 }), (err: unknown) => {
      assert.ok(isMeshError(err, ErrorCode.CONFLICT));
      assert.match(err.message, /expected revision 0, the configuration is at revision 1/);
      assert.equal(err.details?.revision, 1);
      return true;
    });
    assert.equal((await store.apply([svc('two')], { expectedRevision: 1 })).revision, 2);
  });

  it('fails to load a corrupt file with a message naming the file and the problem', async () => {
    const dir = await makeTempDir('hyphae-store-');
    dirs.push(dir);
    await writeFile(path.join(dir, STORE_FILE), '{"format": 1, "revision": 3, "items": [');
    const store = new FileStore(dir);
    await assert.rejects(store.load(), (err: unknown) => {
      assert.ok(isMeshError(err, 'HYPHAE_ERR_INVALID_CONFIG'));
      assert.ok(err.message.includes(path.join(dir, STORE_FILE)), err.message);
      assert.match(err.message, /is not valid JSON/);
      assert.match(err.message, /move it away to start with no resources/);
      return true;
    });
    assert.deepEqual(await readdir(dir), [STORE_FILE], 'a failed load releases the lock');
  });

  it('fails to load a file whose content is invalid, listing each problem', async () => {
    const dir = await makeTempDir('hyphae-store-');
    dirs.push(dir);
    const bad = { format: 1, revision: 2, items: [{ revision: 1, resource: { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'BAD' } } }] };
    await writeFile(path.join(dir, STORE_FILE), JSON.stringify(bad));
    await assert.rejects(new FileStore(dir).load(), /its content is invalid: items\[0\]\.resource\.metadata\.name: must be a lower-case DNS label/);
  });

  it('removes temporary files left by a crash, and refuses a directory another live store holds', async () => {
    const store = await open();
    await store.apply([svc('x')]);
    await store.close();
    const stale = path.join(store.dir, `${STORE_FILE}.12345.deadbeef.tmp`);
    await writeFile(stale, '{"half": ');
    const holder = await open(store.dir);
    assert.deepEqual((await readdir(store.dir)).sort(), ['lock', STORE_FILE]);
    assert.equal(holder.list().length, 1);
    await assert.rejects(new FileStore(store.dir).load(), new RegExp(`is in use by another control plane \\(pid ${process.pid} on host `));
  });
});
