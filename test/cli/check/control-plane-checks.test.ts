/** The control plane's lines of `hyphae check` on given facts: clock skew bounds and CA expiry (src/cli/check/control-plane-checks.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clockSkewMs, controlPlaneChecks } from '../../../src/cli/check/control-plane-checks.js';
import type { Facts } from '../../../src/cli/check/facts.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');

function facts(over: Partial<Facts> & { notAfter?: string; date?: string } = {}): Facts {
  const { notAfter = '2036-03-01T12:00:00.000Z', date = new Date(NOW).toUTCString(), ...rest } = over;
  return {
    url: 'https://127.0.0.1:15010',
    clientVersion: '0.1.0',
    tokenGiven: true,
    now: NOW,
    health: { ok: true, value: { status: 200, body: { status: 'ok', version: '0.1.0', revision: 3, services: 1, instances: 1 }, date, sentAt: NOW, receivedAt: NOW + 20 } },
    ca: { ok: true, value: { trustDomain: 'hyphae.local', authorities: [{ id: 'a', notAfter, active: true }] } },
    summary: { ok: false, error: 'unused' },
    resources: { ok: false, error: 'unused' },
    ...rest,
  };
}

const verdictOf = (f: Facts, check: string) => controlPlaneChecks(f).find((r) => r.check === check);

describe('clockSkewMs', () => {
  it('is 0 while the Date header (whole seconds) can be right, and the least possible skew otherwise', () => {
    const sec = Date.parse('2026-03-01T12:00:00Z');
    const date = new Date(sec).toUTCString();
    // The server read 12:00:00.xxx somewhere between our send and our receipt.
    assert.equal(clockSkewMs({ date, sentAt: sec + 400, receivedAt: sec + 500 }), 0);
    assert.equal(clockSkewMs({ date, sentAt: sec - 100, receivedAt: sec + 50 }), 0);
    // We sent at 12:00:03.5: the server's clock said at most 12:00:00.999, so we are at least 2.5 s ahead.
    assert.equal(clockSkewMs({ date, sentAt: sec + 3500, receivedAt: sec + 3600 }), 2500);
    // We received at 11:59:50: the server had already passed 12:00:00, so we are at least 10 s behind.
    assert.equal(clockSkewMs({ date, sentAt: sec - 10_100, receivedAt: sec - 10_000 }), -10_000);
    assert.equal(clockSkewMs({ date: undefined, sentAt: sec, receivedAt: sec }), undefined);
    assert.equal(clockSkewMs({ date: 'not a date', sentAt: sec, receivedAt: sec }), undefined);
  });

  it('passes under 5 s, warns to 60 s, fails beyond (the certificates are backdated 60 s)', () => {
    const at = (offsetMs: number) => verdictOf(facts({ date: new Date(NOW + offsetMs).toUTCString() }), 'clock-skew')!;
    assert.equal(at(0).verdict, 'ok');
    assert.equal(at(-4_000).verdict, 'ok');
    assert.equal(at(-10_000).verdict, 'warn');
    assert.match(at(-10_000).message, /this machine's clock is \d+ s ahead of the control plane's/);
    assert.match(at(30_000).message, /this machine's clock is \d+ s behind the control plane's/);
    assert.equal(at(30_000).verdict, 'warn');
    assert.equal(at(-90_000).verdict, 'fail');
    assert.equal(at(300_000).verdict, 'fail');
    assert.match(at(300_000).hint ?? '', /NTP/);
  });
});

describe('the CA line', () => {
  it('passes with days left, warns under 30 days, fails when expired, warns without a CA', () => {
    const ok = verdictOf(facts(), 'ca-valid')!;
    assert.equal(ok.verdict, 'ok');
    assert.match(ok.message, /valid for 3653 more days \(until 2036-03-01\)/);
    const soon = verdictOf(facts({ notAfter: '2026-03-20T12:00:00.000Z' }), 'ca-valid')!;
    assert.equal(soon.verdict, 'warn');
    assert.match(soon.message, /expires in 19 days/);
    assert.match(soon.hint ?? '', /hyphae ca rotate/);
    assert.equal(verdictOf(facts({ notAfter: '2026-03-31T13:00:00.000Z' }), 'ca-valid')!.verdict, 'ok', '30 days left is not under 30');
    assert.equal(verdictOf(facts({ notAfter: '2026-02-01T00:00:00.000Z' }), 'ca-valid')!.verdict, 'fail');
    assert.equal(verdictOf(facts({ ca: { ok: true, value: 'insecure' } }), 'ca-valid')!.verdict, 'warn');
  });

  it('an unreachable control plane is one failed line, nothing else', () => {
    const r = controlPlaneChecks(facts({ health: { ok: false, error: 'ECONNREFUSED', hint: 'nothing listens there' } }));
    assert.deepEqual(r, [{ category: 'control plane', check: 'reachable', verdict: 'fail', message: 'cannot reach the control plane: ECONNREFUSED', hint: 'nothing listens there' }]);
  });

  it('a store that cannot be reached fails healthy; no token warns', () => {
    const sick = facts({
      health: {
        ok: true,
        value: {
          status: 503,
          body: { status: 'unavailable', version: '0.1.0', revision: 3, services: 0, instances: 0, store: { ok: false, store: 'etcd', error: 'etcd down' } },
          date: new Date(NOW).toUTCString(),
          sentAt: NOW,
          receivedAt: NOW,
        },
      },
      tokenGiven: false,
    });
    assert.equal(verdictOf(sick, 'healthy')!.verdict, 'fail');
    assert.match(verdictOf(sick, 'healthy')!.message, /unavailable: store: etcd down/);
    assert.equal(verdictOf(sick, 'token')!.verdict, 'warn');
  });
});
