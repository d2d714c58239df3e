import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TrustBundle } from '../../src/config/wire.js';
import { snapshot } from '../helpers/snapshots.js';
import { cacheDirFor, defaultCacheRoot } from '../../src/discovery/cache-file.js';
import { CACHE_FORMAT, CACHE_VERSION, SnapshotCache } from '../../src/discovery/snapshot-cache.js';
import type { Logger } from '../../src/core/logger.js';

function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

const BUNDLE: TrustBundle = { trustDomain: 'example.org', version: 3, roots: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'] };

let root: string;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hyphae-cache-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('discovery cache location', () => {
  it('defaults to $XDG_CACHE_HOME/hyphae, else a per-user directory under the temp dir', () => {
    assert.equal(defaultCacheRoot({ XDG_CACHE_HOME: '/home/u/.cache' }), '/home/u/.cache/hyphae');
    const tmpDefault = defaultCacheRoot({});
    assert.ok(tmpDefault.startsWith(os.tmpdir()) && /hyphae-cache-/.test(tmpDefault), tmpDefault);
    assert.equal(defaultCacheRoot({ XDG_CACHE_HOME: 'relative/path' }), tmpDefault, 'a relative XDG_CACHE_HOME is ignored (XDG spec)');
  });

  it('one directory per control plane (URL order and trailing slashes do not matter)', () => {
    const a = cacheDirFor('/c', ['http://a:1', 'http://b:2/']);
    assert.equal(a, cacheDirFor('/c', ['http://b:2', 'http://a:1']));
    assert.notEqual(a, cacheDirFor('/c', ['http://a:1']));
  });
});

describe('SnapshotCache', () => {
  it('writes the last-known-good snapshot of each service and the trust bundle, privately and atomically; a new process reads them back', async () => {
    const dir = path.join(root, 'roundtrip');
    const logger = captureLogger();
    const c1 = new SnapshotCache({ dir, controlPlane: ['http://cp:1'], logger });
    c1.record(snapshot('api', [1001, 1002], 5, { mtlsMode: 'STRICT' }));
    c1.record(snapshot('web', [2001], 6));
    c1.recordTrustBundle(BUNDLE);
    c1.record(snapshot('api', [1001, 1002, 1003], 7));
    await c1.close();

    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ['service.default.api.json', 'service.default.web.json', 'trust-bundle.json'], 'no temp files left');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const f of files) assert.equal(statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
    const onDisk = JSON.parse(readFileSync(path.join(dir, 'service.default.api.json'), 'utf8'));
    assert.equal(onDisk.format, CACHE_FORMAT);
    assert.equal(onDisk.version, CACHE_VERSION);
    assert.deepEqual(onDisk.controlPlane, ['http://cp:1']);
    assert.equal(onDisk.snapshot.version, 7);

    const c2 = new SnapshotCache({ dir, controlPlane: ['http://cp:1'], logger });
    assert.equal(c2.loaded, 2);
    assert.deepEqual(c2.get('default/api'), snapshot('api', [1001, 1002, 1003], 7));
    assert.equal(c2.get('default/web')?.instances.length, 1);
    assert.deepEqual(c2.trustBundle, BUNDLE);
    assert.ok(c2.savedAt('default/api'));
    assert.deepEqual(logger.lines, []);
  });

  it("keeps the control plane's cluster name for a start during an outage; a malformed one is ignored, with a warning", async () => {
    const dir = path.join(root, 'cluster');
    const logger = captureLogger();
    const c1 = new SnapshotCache({ dir, controlPlane: ['http://cp:1'], logger });
    assert.equal(c1.cluster, undefined);
    c1.recordCluster('dc1');
    await c1.close();
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8')).cluster, 'dc1');
    assert.equal(statSync(path.join(dir, 'cluster.json')).mode & 0o777, 0o600);
    assert.equal(new SnapshotCache({ dir, controlPlane: ['http://cp:1'], logger }).cluster, 'dc1');
    assert.deepEqual(logger.lines, []);

    const edited = JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8'));
    writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify({ ...edited, cluster: 'Not A/Name' }));
    const c3 = new SnapshotCache({ dir, controlPlane: ['http://cp:1'], logger });
    assert.equal(c3.cluster, undefined);
    assert.match(logger.lines.join('\n'), /ignored unreadable or outdated discovery cache files.*cluster\.json/);
  });

  it('a service that no longer exists is forgotten, on disk too', async () => {
    const dir = path.join(root, 'gone');
    const c = new SnapshotCache({ dir, controlPlane: [], logger: captureLogger() });
    c.record(snapshot('api', [1]));
    await c.flush();
    c.record({ ...snapshot('api', []), exists: false });
    await c.close();
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(c.get('default/api'), undefined);
  });

  it('ignores files of another version, unreadable files and invalid snapshots, and says so', () => {
    const dir = path.join(root, 'junk');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const wrap = (snapshot: unknown, version = CACHE_VERSION) => JSON.stringify({ format: CACHE_FORMAT, version, savedAt: new Date().toISOString(), controlPlane: [], snapshot });
    writeFileSync(path.join(dir, 'service.default.old.json'), wrap(snapshot('old', [1]), 99));
    writeFileSync(path.join(dir, 'service.default.broken.json'), '{"format":');
    writeFileSync(path.join(dir, 'service.default.bad.json'), wrap({ ...snapshot('bad', [1]), instances: [{ id: 1 }] }));
    writeFileSync(path.join(dir, 'service.default.renamed.json'), wrap(snapshot('other', [1])));
    writeFileSync(path.join(dir, 'service.default.good.json'), wrap(snapshot('good', [1])));
    const logger = captureLogger();
    const c = new SnapshotCache({ dir, controlPlane: [], logger });
    assert.equal(c.loaded, 1);
    assert.ok(c.get('default/good'));
    assert.equal(c.get('default/other'), undefined, 'a file must be named after the service it holds');
    assert.equal(logger.lines.length, 1);
    assert.match(logger.lines[0]!, /ignored unreadable or outdated/);
  });

  it('refuses a directory others can write to (a planted trust bundle would be trusted): memory only, with a warning', async () => {
    const base = path.join(root, 'shared');
    mkdirSync(base, { recursive: true });
    chmodSync(base, 0o777);
    const logger = captureLogger();
    const c = new SnapshotCache({ dir: path.join(base, 'cp'), controlPlane: [], logger });
    assert.equal(c.dir, undefined);
    assert.match(logger.lines[0]!, /discovery cache disabled.*writable by group or others/);
    c.record(snapshot('api', [1]));
    assert.ok(c.get('default/api'), 'still kept in memory');
    await c.close();
  });

  it('coalesces writes: many updates of one service in a burst make one write', async () => {
    const dir = path.join(root, 'burst');
    const c = new SnapshotCache({ dir, controlPlane: [], logger: captureLogger(), writeDelayMs: 50 });
    for (let v = 1; v <= 100; v++) c.record(snapshot('api', [1], v));
    // Until the file appears (written atomically, after the delay: a busy machine may take far longer than
    // 50 ms); the first content seen must already be the last update.
    const file = path.join(dir, 'service.default.api.json');
    const deadline = performance.now() + 10_000;
    while (!existsSync(file) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const onDisk = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(onDisk.snapshot.version, 100);
    await c.close();
  });

  it('without a directory it is a memory-only cache', async () => {
    const c = new SnapshotCache({ dir: undefined, controlPlane: [], logger: captureLogger() });
    c.record(snapshot('api', [1]));
    assert.ok(c.get('default/api'));
    await c.close();
  });
});
