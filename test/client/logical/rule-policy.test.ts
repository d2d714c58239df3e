/**
 * ruleOverService: a Gateway rule's timeouts and retries over the spec of the
 * backend Service it sends to, following that spec as it changes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveServiceSpec } from '../../../src/config/resources.js';
import { retryPolicySchema } from '../../../src/config/resources/resilience.js';
import { ServicePolicy } from '../../../src/client/logical/service-policy.js';
import { ruleOverService } from '../../../src/client/logical/rule-policy.js';

const spec = (s: object) => resolveServiceSpec(s as Parameters<typeof resolveServiceSpec>[0]);

describe('ruleOverService', () => {
  it("a rule that sets neither timeouts nor retry gets the Service's own policy, current after every change", () => {
    const service = new ServicePolicy(spec({ timeouts: { request: 400 }, retries: { attempts: 3 } }));
    const p = ruleOverService({}, service);
    assert.deepEqual(p.timeouts, { requestMs: 400 });
    assert.equal(p.retryPolicy.attempts, 3);
    service.apply(spec({ timeouts: { request: 900, perTry: 100 } }));
    assert.deepEqual(p.timeouts, { requestMs: 900, perTryMs: 100 });
    assert.equal(p.retryPolicy.attempts, 2, 'the schema default, as the new spec says');
  });

  it("a rule's own fields win; the rest are the Service's, merged again when it changes and only then", () => {
    const service = new ServicePolicy(spec({ timeouts: { request: 400 }, retries: { attempts: 4 } }));
    const p = ruleOverService({ timeouts: { perTry: 50 } }, service);
    assert.deepEqual(p.timeouts, { requestMs: 400, perTryMs: 50 });
    assert.equal(p.retryPolicy.attempts, 4, 'no retry of its own: the Service’s');
    const first = p.timeouts;
    assert.equal(p.timeouts, first, 'not merged again per call');
    service.apply(spec({ timeouts: { request: 400 }, retries: { attempts: 4 }, limits: { maxConcurrent: 3 } }));
    assert.equal(p.timeouts, first, 'a change that leaves timeouts and retries alone merges nothing');
    service.apply(spec({ timeouts: { request: 7000, perTry: 999 }, retries: { attempts: 1 } }));
    assert.deepEqual(p.timeouts, { requestMs: 7000, perTryMs: 50 });
    assert.equal(p.retryPolicy.attempts, 1);
  });

  it("a rule's retry replaces the Service's as a whole (Gateway API: the most specific wins)", () => {
    const service = new ServicePolicy(spec({ retries: { attempts: 5, statusCodes: [500] } }));
    const p = ruleOverService({ retry: retryPolicySchema.parse({ attempts: 2 }) }, service);
    assert.equal(p.retryPolicy.attempts, 2);
    assert.deepEqual(p.timeouts, {});
  });
});
