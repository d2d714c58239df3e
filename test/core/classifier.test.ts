import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyError, classifyStatus, defaultClassifierPolicy, errorKind, type ClassifierPolicy } from '../../src/core/classifier.js';
import { ErrorCode, MeshError } from '../../src/core/errors.js';

function sysError(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe('classifyStatus', () => {
  it('502, 503 and 504 are retryable by default', () => {
    for (const s of [502, 503, 504]) assert.equal(classifyStatus(s), 'retryable', String(s));
  });

  it('other 5xx are failures', () => {
    for (const s of [500, 501, 505, 599]) assert.equal(classifyStatus(s), 'failure', String(s));
  });

  it('1xx, 2xx, 3xx and 4xx are successes (the server answered as designed)', () => {
    for (const s of [100, 200, 204, 301, 304, 400, 404, 429, 499]) assert.equal(classifyStatus(s), 'success', String(s));
  });

  it('follows a custom policy, and retryable wins over failure', () => {
    const policy: ClassifierPolicy = { retryableStatus: new Set([429, 503]), isFailureStatus: (s) => s === 429 || s === 500 };
    assert.equal(classifyStatus(429, policy), 'retryable');
    assert.equal(classifyStatus(503, policy), 'retryable');
    assert.equal(classifyStatus(500, policy), 'failure');
    assert.equal(classifyStatus(502, policy), 'success');
  });

  it('the default policy is the one used without an argument', () => {
    for (const s of [200, 404, 500, 502, 503, 504]) assert.equal(classifyStatus(s), classifyStatus(s, defaultClassifierPolicy));
  });
});

describe('errorKind', () => {
  it('recognises connect errors', () => {
    for (const c of ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']) {
      assert.equal(errorKind(sysError(c)), 'connect', c);
    }
  });

  it('recognises resets', () => {
    for (const c of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']) assert.equal(errorKind(sysError(c)), 'reset', c);
  });

  it('anything else is other', () => {
    assert.equal(errorKind(new Error('boom')), 'other');
    assert.equal(errorKind(sysError('ENOTFOUND')), 'other');
    assert.equal(errorKind(sysError('UND_ERR_HEADERS_TIMEOUT')), 'other');
    assert.equal(errorKind(Object.assign(new Error('x'), { code: 111 })), 'other');
    assert.equal(errorKind(undefined), 'other');
    assert.equal(errorKind(null), 'other');
    assert.equal(errorKind('ECONNREFUSED'), 'other');
  });

  it('looks through MeshError causes to the transport error', () => {
    const wrapped = new MeshError(ErrorCode.UPSTREAM_ERROR, 'upstream', { cause: sysError('ECONNREFUSED') });
    assert.equal(errorKind(wrapped), 'connect');
    const twice = new MeshError(ErrorCode.UPSTREAM_ERROR, 'outer', {
      cause: new MeshError(ErrorCode.UPSTREAM_RESET, 'inner', { cause: sysError('ECONNRESET') }),
    });
    assert.equal(errorKind(twice), 'reset');
  });

  it('looks through plain Error causes too (undici wraps socket errors)', () => {
    const undiciLike = Object.assign(new Error('fetch failed'), { cause: sysError('UND_ERR_SOCKET') });
    assert.equal(errorKind(undiciLike), 'reset');
  });

  it('the outermost known code wins', () => {
    const outerReset = Object.assign(new Error('x'), { code: 'ECONNRESET', cause: sysError('ECONNREFUSED') });
    assert.equal(errorKind(outerReset), 'reset');
  });

  it('stops after a bounded depth and on cyclic causes', () => {
    let deep: Error = sysError('ECONNREFUSED');
    for (let i = 0; i < 10; i++) deep = new Error(`level ${i}`, { cause: deep });
    assert.equal(errorKind(deep), 'other');
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    assert.equal(errorKind(a), 'other');
  });
});

describe('classifyError', () => {
  it('a MeshError is classified by its retryable flag, whatever its cause', () => {
    assert.equal(classifyError(new MeshError(ErrorCode.CONNECT_FAILED, 'x', { retryable: true })), 'retryable');
    assert.equal(classifyError(new MeshError(ErrorCode.NO_ENDPOINTS, 'x')), 'failure');
    // The flag is the decision: a non-retryable MeshError around a connect error stays a failure.
    assert.equal(classifyError(new MeshError(ErrorCode.UPSTREAM_ERROR, 'x', { cause: sysError('ECONNREFUSED') })), 'failure');
  });

  it('plain connect and reset errors are retryable, directly or as a cause', () => {
    assert.equal(classifyError(sysError('ECONNREFUSED')), 'retryable');
    assert.equal(classifyError(sysError('ECONNRESET')), 'retryable');
    assert.equal(classifyError(new Error('fetch failed', { cause: sysError('UND_ERR_CONNECT_TIMEOUT') })), 'retryable');
  });

  it('other errors are failures', () => {
    assert.equal(classifyError(new Error('boom')), 'failure');
    assert.equal(classifyError(sysError('ENOTFOUND')), 'failure');
    assert.equal(classifyError(undefined), 'failure');
  });
});
