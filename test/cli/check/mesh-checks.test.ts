/** The data plane's lines of `hyphae check` on a given summary (src/cli/check/mesh-checks.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Facts } from '../../../src/cli/check/facts.js';
import { meshChecks } from '../../../src/cli/check/mesh-checks.js';
import type { MeshSummary } from '../../../src/control-plane/stats/summary.js';

function facts(summary: Partial<MeshSummary>): Facts {
  const value = { services: [], instances: [], warnings: [], ...summary } as unknown as MeshSummary;
  return {
    url: 'https://127.0.0.1:15010',
    clientVersion: '0.1.0',
    tokenGiven: true,
    now: 0,
    health: { ok: true, value: { status: 200, body: { status: 'ok', revision: 1, services: 0, instances: 0 }, date: undefined, sentAt: 0, receivedAt: 0 } },
    ca: { ok: true, value: 'insecure' },
    summary: { ok: true, value },
    resources: { ok: true, value: [] },
  };
}

const instance = (id: string, health: string, lastReportSeconds: number | null, expiresInSeconds?: number) => ({
  id,
  service: 'api',
  namespace: 'default',
  labels: {},
  health,
  lastReportSeconds,
  certificate: expiresInSeconds === undefined ? null : { spiffeId: 'spiffe://hyphae.local/ns/default/sa/api', notAfter: '', expiresInSeconds },
});

describe('meshChecks', () => {
  it('fails an expired certificate, warns one expiring, a silent or never-reporting instance, a service with none', () => {
    const lines = meshChecks(
      facts({
        services: [
          { namespace: 'default', name: 'api', instances: 3, hasConfig: false },
          { namespace: 'shop', name: 'cart', instances: 0, hasConfig: false },
        ] as never,
        instances: [instance('a', 'reporting', 1, 3600), instance('b', 'silent', 95, 60), instance('c', 'unknown', null)] as never,
        warnings: [
          { kind: 'certificate-expired', message: 'certificate of api d expired at 2026-01-01T00:00:00.000Z', service: 'api', instance: 'd' },
          { kind: 'certificate-expiring', message: 'certificate of api b expires in 60s (renewal overdue)', service: 'api', instance: 'b' },
          { kind: 'edge-errors', message: 'web -> api: 50.0% success over 10s' },
        ] as never,
      }),
    ).map((l) => `${l.verdict} ${l.check}: ${l.message}`);
    assert.deepEqual(lines, [
      'fail certificates: certificate of api d expired at 2026-01-01T00:00:00.000Z',
      'warn certificates: certificate of api b expires in 60s (renewal overdue)',
      'warn service-instances: service shop/cart has no instances (all have left)',
      'warn instance-stats: default/api b stopped reporting stats 95 s ago',
      'warn instance-stats: default/api c has not reported stats',
    ]);
  });

  it('passes a mesh whose instances all report and renew; an unreadable summary is one failure', () => {
    const ok = meshChecks(facts({ services: [{ namespace: 'default', name: 'api', instances: 1, hasConfig: true }] as never, instances: [instance('a', 'reporting', 1, 3600)] as never }));
    assert.deepEqual(
      ok.map((l) => `${l.verdict} ${l.message}`),
      ['ok 1 instance certificate valid, renewing on time', 'ok every service has instances (1 service)', 'ok every instance reports stats (1)'],
    );
    const broken = meshChecks({ ...facts({}), summary: { ok: false, error: 'GET /v1/stats/summary: HYPHAE_ERR_UNAUTHENTICATED: no token', hint: 'give a token' } });
    assert.deepEqual(
      broken.map((l) => [l.verdict, l.check]),
      [['fail', 'summary']],
    );
  });
});
