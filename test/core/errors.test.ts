import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { it } from 'node:test';
import { ErrorCode, MeshError, isMeshError } from '../../src/core/errors.js';
import { repoRoot } from '../helpers/process.js';

it('every error code is documented in docs/errors.md, and every documented code exists', async () => {
  const doc = await readFile(path.join(repoRoot, 'docs/errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^### (HYPHAE_ERR_[A-Z_]+)\s*$/gm)].map((m) => m[1]!));
  const defined = new Set<string>(Object.values(ErrorCode));
  const undocumented = [...defined].filter((c) => !documented.has(c));
  const unknown = [...documented].filter((c) => !defined.has(c));
  assert.deepEqual(undocumented, [], 'codes without a section in docs/errors.md');
  assert.deepEqual(unknown, [], 'sections in docs/errors.md for codes that do not exist');
  assert.equal(new Set(Object.values(ErrorCode)).size, Object.values(ErrorCode).length, 'codes are unique');
});

it('MeshError carries code, flags, cause and details', () => {
  const cause = new Error('boom');
  const err = new MeshError(ErrorCode.CONNECT_FAILED, 'no', { cause, retryable: true, details: { endpoint: 'x' } });
  assert.equal(err.code, 'HYPHAE_ERR_CONNECT_FAILED');
  assert.equal(err.retryable, true);
  assert.equal(err.rejected, false);
  assert.equal(err.cause, cause);
  assert.deepEqual(err.details, { endpoint: 'x' });
  assert.ok(isMeshError(err, ErrorCode.CONNECT_FAILED));
  assert.ok(!isMeshError(err, ErrorCode.NO_ENDPOINTS));
  assert.ok(!isMeshError(new Error('plain')));
});
