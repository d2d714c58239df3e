/** A mesh error reaches a plain HTTP client as 502, 503 or 504 with its code in a JSON body. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import { edgeError } from '../../src/edge/error-response.js';

describe('edge error mapping', () => {
  const cases: [string, number][] = [
    [ErrorCode.DEADLINE_EXCEEDED, 504],
    [ErrorCode.TRY_TIMEOUT, 504],
    [ErrorCode.NO_ENDPOINTS, 503],
    [ErrorCode.CONCURRENCY_LIMIT, 503],
    [ErrorCode.OVERLOADED, 503],
    [ErrorCode.MESH_CLOSED, 503],
    [ErrorCode.SERVICE_NOT_FOUND, 502],
    [ErrorCode.CONNECT_FAILED, 502],
    [ErrorCode.UPSTREAM_RESET, 502],
    [ErrorCode.PEER_IDENTITY_MISMATCH, 502],
    [ErrorCode.TLS_HANDSHAKE_FAILED, 502],
  ];
  for (const [code, status] of cases) {
    it(`${code} -> ${status}, code kept`, () => {
      const e = edgeError(new MeshError(code as MeshError['code'], 'why'));
      assert.equal(e.status, status);
      assert.equal(e.code, code);
      assert.equal(e.message, 'why');
    });
  }

  it("an error that is not the mesh's is a 502 HYPHAE_ERR_UPSTREAM_ERROR", () => {
    const e = edgeError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    assert.deepEqual(e, { status: 502, code: ErrorCode.UPSTREAM_ERROR, message: 'socket hang up' });
  });
});
