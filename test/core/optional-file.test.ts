import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileExists, readIfExists } from '../../src/core/optional-file.js';

describe('optional files (a first start has none)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-optional-'));
    await writeFile(path.join(dir, 'there'), 'text\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads a file that is there, and answers undefined / false for one that is not', async () => {
    assert.equal(await readIfExists(path.join(dir, 'there')), 'text\n');
    assert.equal(await readIfExists(path.join(dir, 'missing')), undefined);
    assert.equal(await fileExists(path.join(dir, 'there')), true);
    assert.equal(await fileExists(path.join(dir, 'missing')), false);
  });

  it('passes on every other failure: a directory where the file should be, a path through a file', async () => {
    await assert.rejects(readIfExists(dir), { code: 'EISDIR' });
    await assert.rejects(readIfExists(path.join(dir, 'there', 'below')), { code: 'ENOTDIR' });
    await assert.rejects(fileExists(path.join(dir, 'there', 'below')), { code: 'ENOTDIR' });
  });
});
