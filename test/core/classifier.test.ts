import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyError, classifyStatus, defaultClassifierPolicy, errorKind, errorVerdict, responseVerdict, type ClassifierPolicy, type Verdict } from '../../src/core/classifier.js';
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

describe('verdicts: one per attempt, every field', () => {
  const fields = (v: Verdict) => ({ outcome: v.outcome, failure: v.failure, progress: v.progress, endpoint: v.endpoint, condition: v.condition, status: v.status });

  it('a success: processed, the endpoint healthy, nothing to retry', () => {
    assert.deepEqual(fields(responseVerdict(200)), { outcome: 'success', failure: 'none', progress: 'processed', endpoint: 'healthy', condition: undefined, status: 200 });
    assert.equal(responseVerdict(200), responseVerdict(200), 'a shared constant: reading it allocates nothing');
  });

  it('a 4xx: a success of the endpoint, an error status a policy may list', () => {
    assert.deepEqual(fields(responseVerdict(429)), { outcome: 'success', failure: 'none', progress: 'processed', endpoint: 'healthy', condition: 'retriable-status', status: 429 });
  });

  it('a 5xx: the endpoint at fault; 502/503/504 retryable, 500 not', () => {
    assert.deepEqual(fields(responseVerdict(503)), { outcome: 'retryable', failure: 'status', progress: 'processed', endpoint: 'at-fault', condition: 'retriable-status', status: 503 });
    assert.deepEqual(fields(responseVerdict(500)), { outcome: 'failure', failure: 'status', progress: 'processed', endpoint: 'at-fault', condition: 'retriable-status', status: 500 });
  });

  it("the peer mesh's refusal (x-hyphae-rejected on a 503 or 504): not processed, not the endpoint's fault", () => {
    for (const s of [503, 504]) {
      assert.deepEqual(fields(responseVerdict(s, true)), { outcome: 'retryable', failure: 'refused', progress: 'refused', endpoint: 'neutral', condition: 'refused', status: s });
    }
    // Only the mesh's own refusal statuses carry it: the header on any other status is not a refusal.
    assert.equal(responseVerdict(500, true).failure, 'status');
  });

  it('a custom classifier policy is honoured', () => {
    const policy: ClassifierPolicy = { retryableStatus: new Set([429]), isFailureStatus: (s) => s >= 400 };
    assert.equal(responseVerdict(429, false, policy).outcome, 'retryable');
    assert.equal(responseVerdict(404, false, policy).endpoint, 'at-fault');
  });

  it('a connect failure: nothing was sent, the endpoint at fault, retryable whatever the method', () => {
    const want = { outcome: 'retryable', failure: 'connect', progress: 'not-sent', endpoint: 'at-fault', condition: 'connect-failure', status: 0 };
    assert.deepEqual(fields(errorVerdict(sysError('ECONNREFUSED'))), want);
    assert.deepEqual(fields(errorVerdict(new MeshError(ErrorCode.TLS_HANDSHAKE_FAILED, 'x', { rejected: true, retryable: true }))), want);
    assert.deepEqual(fields(errorVerdict(new MeshError(ErrorCode.CONNECT_FAILED, 'x', { cause: sysError('UND_ERR_CONNECT_TIMEOUT') }))), want);
  });

  it('a wrong peer identity that is not marked retryable: the endpoint at fault, not retried', () => {
    assert.deepEqual(fields(errorVerdict(new MeshError(ErrorCode.PEER_IDENTITY_MISMATCH, 'x'))), {
      outcome: 'failure',
      failure: 'connect',
      progress: 'not-sent',
      endpoint: 'at-fault',
      condition: undefined,
      status: 0,
    });
  });

  it('a reset before the response: maybe processed, the endpoint at fault', () => {
    assert.deepEqual(fields(errorVerdict(sysError('ECONNRESET'))), { outcome: 'retryable', failure: 'reset', progress: 'maybe-processed', endpoint: 'at-fault', condition: 'reset', status: 0 });
  });

  it('a per-try timeout: maybe processed, the endpoint at fault', () => {
    assert.deepEqual(fields(errorVerdict(new MeshError(ErrorCode.TRY_TIMEOUT, 't', { retryable: true }))), {
      outcome: 'retryable',
      failure: 'try-timeout',
      progress: 'maybe-processed',
      endpoint: 'at-fault',
      condition: 'per-try-timeout',
      status: 0,
    });
  });

  it("the call's own stop (deadline, cancellation, any error once the call is aborted): neutral, never retried", () => {
    const want = { outcome: 'failure', failure: 'cancelled', progress: 'maybe-processed', endpoint: 'neutral', condition: undefined, status: 0 };
    assert.deepEqual(fields(errorVerdict(new MeshError(ErrorCode.DEADLINE_EXCEEDED, 'd'))), want);
    assert.deepEqual(fields(errorVerdict(sysError('ECONNRESET'), true)), want);
    assert.deepEqual(fields(errorVerdict(sysError('UND_ERR_ABORTED'))), want);
  });

  it("the call's abort is the call's state, not the error's: the same error of another call keeps its own verdict", () => {
    const shared = sysError('ECONNRESET');
    assert.equal(errorVerdict(shared, true).failure, 'cancelled');
    assert.equal(errorVerdict(shared).failure, 'reset');
  });

  it("this process's own refusals: neutral, not sent when rejected", () => {
    assert.deepEqual(fields(errorVerdict(new MeshError(ErrorCode.CONCURRENCY_LIMIT, 'x', { rejected: true }))), {
      outcome: 'failure',
      failure: 'local',
      progress: 'not-sent',
      endpoint: 'neutral',
      condition: undefined,
      status: 0,
    });
    // A transport cause underneath does not make a mesh refusal retryable.
    assert.equal(errorVerdict(new MeshError(ErrorCode.NO_ENDPOINTS, 'x', { rejected: true, retryable: true, cause: sysError('ECONNRESET') })).condition, undefined);
  });

  it('a request the caller got wrong: neutral, not sent', () => {
    assert.deepEqual(fields(errorVerdict(sysError('UND_ERR_INVALID_ARG'))), { outcome: 'failure', failure: 'request', progress: 'not-sent', endpoint: 'neutral', condition: undefined, status: 0 });
  });

  it('any other failure: maybe processed, the endpoint at fault, not retried', () => {
    assert.deepEqual(fields(errorVerdict(new Error('boom'))), { outcome: 'failure', failure: 'other', progress: 'maybe-processed', endpoint: 'at-fault', condition: undefined, status: 0 });
    assert.deepEqual(fields(errorVerdict(new MeshError(ErrorCode.UPSTREAM_ERROR, 'x'))), fields(errorVerdict(new Error('boom'))));
    assert.equal(errorVerdict(undefined).failure, 'other');
  });

  it('made once per error: every reader gets the same verdict object', () => {
    const err = sysError('ECONNREFUSED');
    assert.equal(errorVerdict(err), errorVerdict(err));
  });
});
