import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import { isIdempotentMethod } from '../../src/resilience/retry-policy.js';
import { retryPolicy } from '../helpers/resilience-defaults.js';

function sysErr(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe('RetryPolicy', () => {
  it('defaults: 2 attempts, 502/503/504, connect failures, resets and per-try timeouts', () => {
    const p = retryPolicy();
    assert.equal(p.attempts, 2);
    assert.deepEqual(
      [500, 501, 502, 503, 504, 429, 200].map((s) => p.retriesStatus(s)),
      [false, false, true, true, true, false, false],
    );
    assert.equal(p.conditionOf(sysErr('ECONNREFUSED')), 'connect-failure');
    assert.equal(p.conditionOf(sysErr('UND_ERR_CONNECT_TIMEOUT')), 'connect-failure');
    assert.equal(p.conditionOf(sysErr('ECONNRESET')), 'reset');
    assert.equal(p.conditionOf(sysErr('UND_ERR_SOCKET')), 'reset');
    assert.equal(p.conditionOf(new MeshError(ErrorCode.TRY_TIMEOUT, 't', { retryable: true })), 'per-try-timeout');
  });

  it('never retries errors raised before sending, deadlines, aborts or unknown failures', () => {
    const p = retryPolicy();
    for (const code of [ErrorCode.NO_ENDPOINTS, ErrorCode.DEADLINE_EXCEEDED, ErrorCode.CONCURRENCY_LIMIT, ErrorCode.CONTROL_PLANE_UNREACHABLE, ErrorCode.CANCELLED]) {
      // Even with a transport cause underneath, a mesh refusal is final.
      assert.equal(p.conditionOf(new MeshError(code, 'x', { retryable: true, cause: sysErr('ECONNRESET') })), undefined, code);
    }
    assert.equal(p.conditionOf(new Error('boom')), undefined);
    assert.equal(p.conditionOf(sysErr('UND_ERR_HEADERS_TIMEOUT')), undefined);
    // Wrapped transport errors keep their kind.
    assert.equal(p.conditionOf(new MeshError(ErrorCode.UPSTREAM_RESET, 'x', { cause: sysErr('ECONNRESET') })), 'reset');
  });

  it('conditions can be switched off one by one', () => {
    const p = retryPolicy({ on: ['connect-failure'] });
    assert.equal(p.conditionOf(sysErr('ECONNREFUSED')), 'connect-failure');
    assert.equal(p.conditionOf(sysErr('ECONNRESET')), undefined);
    assert.equal(p.retriesStatus(503), false);
    assert.equal(p.conditionOf(new MeshError(ErrorCode.TRY_TIMEOUT, 't')), undefined);
  });

  it('4xx status codes count only with retriable4xx', () => {
    assert.equal(retryPolicy({ statusCodes: [409, 503] }).retriesStatus(409), false);
    assert.equal(retryPolicy({ statusCodes: [409, 503], retriable4xx: true }).retriesStatus(409), true);
  });

  it('safety: connect failures and refusals always; otherwise idempotent or opted in', () => {
    const p = retryPolicy();
    assert.equal(p.isSafe('connect-failure', false), true);
    assert.equal(p.isSafe('refused', false), true);
    assert.equal(p.isSafe('reset', false), false);
    assert.equal(p.isSafe('retriable-status', true), true);
    assert.equal(retryPolicy({ retryNonIdempotent: true }).isSafe('reset', false), true);
  });

  it('idempotent methods per RFC 9110', () => {
    assert.deepEqual(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE', 'get'].map(isIdempotentMethod), [true, true, true, true, true, true, true]);
    assert.deepEqual(['POST', 'PATCH', 'CONNECT'].map(isIdempotentMethod), [false, false, false]);
  });

  it('full-jitter backoff between 0 and min(250, 25 * 2^n)', () => {
    const p = retryPolicy();
    assert.deepEqual(
      [0, 1, 2, 3, 4, 8].map((n) => p.backoffMs(n, () => 0.999999)),
      [24, 49, 99, 199, 249, 249],
    );
    assert.equal(
      p.backoffMs(3, () => 0),
      0,
    );
    for (let i = 0; i < 200; i++) {
      const v = p.backoffMs(i % 6);
      assert.ok(v >= 0 && v < 250);
    }
  });

  it('rejects nonsense attempts', () => {
    assert.throws(() => retryPolicy({ attempts: 0 }), RangeError);
  });
});
