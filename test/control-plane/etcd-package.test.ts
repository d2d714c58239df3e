/**
 * etcd3 is an optional peer dependency: `--store etcd` without it must say
 * what to install, in the range package.json declares. (The packed-package
 * test, test/package/pack.test.ts, runs the real command in an install
 * without etcd3.)
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode, isMeshError } from '../../src/core/errors.js';
import { ETCD3_INSTALL_COMMAND, ETCD3_VERSION_RANGE, importEtcdBackend } from '../../src/control-plane/etcd/etcd-package.js';
import { repoRoot } from '../helpers/process.js';

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

describe('the etcd3 optional peer dependency', () => {
  it('is declared an optional peer in the range the error names, and a devDependency for the tests', async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
    assert.equal(pkg.peerDependencies?.etcd3, ETCD3_VERSION_RANGE);
    assert.equal(pkg.peerDependenciesMeta?.etcd3?.optional, true);
    assert.equal(pkg.devDependencies?.etcd3, ETCD3_VERSION_RANGE);
    assert.equal(pkg.dependencies?.etcd3, undefined);
    assert.equal(ETCD3_INSTALL_COMMAND, `npm install etcd3@${ETCD3_VERSION_RANGE}`);
  });

  it('missing: INVALID_OPTIONS naming the npm install to run', async () => {
    // A package name that resolves nowhere: Node's own ERR_MODULE_NOT_FOUND, as for a missing etcd3.
    await assert.rejects(importEtcdBackend('hyphae-test-no-such-etcd-client'), (err: unknown) => {
      assert.ok(isMeshError(err, ErrorCode.INVALID_OPTIONS), String(err));
      assert.match(err.message, /--store etcd needs the etcd3 package/);
      assert.ok(err.message.includes(`\`npm install etcd3@${ETCD3_VERSION_RANGE}\``), err.message);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ERR_MODULE_NOT_FOUND');
      return true;
    });
  });

  it('present: loads the etcd backend', async () => {
    const backend = await importEtcdBackend();
    assert.equal(typeof backend.openEtcdBackend, 'function');
  });
});
