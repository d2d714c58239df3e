/**
 * The request-target corpora against real applications (issue 13, defect 6):
 * Express 4 and 5, Fastify 4 and 5 with their default router options and with
 * the lenient ones (test/helpers/framework-apps.ts), each behind wrapServer,
 * every line sent raw. Authorization matches the normalized path; the
 * frameworks route on their own reading of what the handler is given, so a
 * line that reaches an `/admin` handler under a policy that denies it is a
 * bypass however it got there (Fastify 4 cuts paths at `;`, Express routes
 * without case and ignores a trailing slash).
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/core/logger.js';
import { normalizeTarget, type SemicolonMode } from '../../../src/server/authz/normalize-path.js';
import { wrapServer } from '../../../src/server/wrap-server.js';
import { startFrameworkApps, type FrameworkApp, type Hit } from '../../helpers/framework-apps.js';
import { TestPolicySource } from '../../helpers/policy-source.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { corpus } from '../../helpers/corpus.js';
import { policy } from './authz-cases.js';

const BYPASS = corpus('path-bypass.txt');
const BENIGN = corpus('path-benign.txt');
/**
 * Not bypass lines by the corpus's rule (they need not be refused: some are served elsewhere, some 404),
 * but readings some router could take for /admin: no admin handler may run for any of them.
 */
const ELSEWHERE = ['/public/..;/admin', '/public;/../admin', '/public/..%3b/admin', '/admin.json', '/admin%20', '/admin%2e', '/admin%3F', '/admin%23', '/admin~', '/adm;in'];

interface PolicyCase {
  label: string;
  policies: ReturnType<typeof policy>[];
  /** Handlers that must never run under it. */
  guarded: readonly Hit['route'][];
  /** The corpus's rule for its bypass lines (400 or 403), and the benign lines served. */
  corpusRule: boolean;
}

const CASES: PolicyCase[] = [
  {
    label: 'DENY PathPrefix /admin',
    policies: [policy('deny-admin', 'DENY', [{ to: { paths: [{ type: 'PathPrefix', value: '/admin' }] } }])],
    guarded: ['admin', 'admin-tree'],
    corpusRule: true,
  },
  {
    label: 'ALLOW PathPrefix /public',
    policies: [policy('allow-public', 'ALLOW', [{ to: { paths: [{ type: 'PathPrefix', value: '/public' }] } }])],
    guarded: ['admin', 'admin-tree'],
    corpusRule: true,
  },
  {
    // /admin/users may reach the admin tree here; the /admin page itself may not, however it is spelled.
    label: 'DENY Exact /admin',
    policies: [policy('deny-admin-page', 'DENY', [{ to: { paths: [{ type: 'Exact', value: '/admin' }] } }])],
    guarded: ['admin'],
    corpusRule: false,
  },
];

function wrapWith(source: TestPolicySource, pathSemicolons?: SemicolonMode): (server: http.Server) => void {
  return (server) =>
    void wrapServer(
      server,
      { registrar: async () => undefined, logger: silentLogger, defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 1_000 }, policies: source },
      pathSemicolons ? { pathSemicolons } : {},
    );
}

describe('the corpora against Express and Fastify applications behind wrapServer', () => {
  const source = new TestPolicySource();
  const hits: Hit[] = [];
  let apps: FrameworkApp[] = [];
  let requests = 0;

  before(async () => {
    assert.ok(BYPASS.length >= 60 && BENIGN.length >= 15, `corpora read (${BYPASS.length} bypass, ${BENIGN.length} benign lines)`);
    apps = await startFrameworkApps(wrapWith(source), hits);
  });
  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    console.log(`# frameworks: ${apps.length} applications, ${requests} requests`);
  });

  for (const c of CASES) {
    it(`${c.label}: no bypass line and no other reading of /admin reaches a guarded handler${c.corpusRule ? '; every bypass line is refused (400 or 403)' : ''}`, async () => {
      source.set(c.policies);
      const bypasses: string[] = [];
      let sent = 0;
      for (const app of apps) {
        for (const line of [...BYPASS, ...ELSEWHERE]) {
          const before = hits.length;
          const reply = await rawRequest(app.port, { target: line });
          sent++;
          const ran = hits.slice(before);
          const guarded = ran.filter((h) => c.guarded.includes(h.route));
          if (guarded.length > 0) bypasses.push(`${app.name}: ${JSON.stringify(line)} -> ${reply.status}, ran ${guarded.map((h) => `${h.route} (${h.url})`).join(', ')}`);
          else if (c.corpusRule && BYPASS.includes(line) && reply.status !== 400 && reply.status !== 403) {
            bypasses.push(`${app.name}: ${JSON.stringify(line)} -> ${reply.status}, not refused`);
          }
        }
      }
      requests += sent;
      console.log(`# ${c.label}: ${sent} requests to ${apps.length} applications, bypasses found = ${bypasses.length}`);
      assert.deepEqual(bypasses, []);
    });
  }

  for (const c of CASES.filter((x) => x.corpusRule)) {
    it(`${c.label}: every benign line reaches the public handler (200), which is given the normalized target`, async () => {
      source.set(c.policies);
      const wrong: string[] = [];
      for (const app of apps) {
        for (const line of BENIGN) {
          const before = hits.length;
          const reply = await rawRequest(app.port, { target: line });
          requests++;
          const ran = hits.slice(before);
          const expected = normalizeTarget(line);
          if (reply.status !== 200 || ran.length !== 1 || ran[0]!.route !== 'public' || ran[0]!.url !== expected) {
            wrong.push(`${app.name}: ${JSON.stringify(line)} -> ${reply.status}, ran ${JSON.stringify(ran)}, expected public with ${JSON.stringify(expected)}`);
          }
        }
      }
      assert.deepEqual(wrong, []);
    });
  }
});

describe('pathSemicolons, on the frameworks it is meant for', () => {
  const deny = [policy('deny-admin', 'DENY', [{ to: { paths: [{ type: 'PathPrefix', value: '/admin' }] } }])];

  it('"reject": any `;` in a path is refused with 400 HYPHAE_ERR_BAD_REQUEST_TARGET, before any router (Fastify 4 included)', async () => {
    const hits: Hit[] = [];
    const apps = await startFrameworkApps(wrapWith(new TestPolicySource(deny), 'reject'), hits, ['fastify 4', 'express 5']);
    try {
      for (const app of apps) {
        for (const line of ['/admin;x', '/public/a;b', '/public;v=1', '/public/a%3Bb']) {
          const reply = await rawRequest(app.port, { target: line });
          assert.equal(reply.status, 400, `${app.name} ${line}`);
          assert.match(reply.body, /HYPHAE_ERR_BAD_REQUEST_TARGET/);
        }
        const reply = await rawRequest(app.port, { target: '/public/a?x=;y' });
        assert.equal(reply.status, 200, `${app.name}: a ";" in the query is not in the path`);
      }
      assert.deepEqual(
        hits.map((h) => `${h.app} ${h.route} ${h.url}`),
        ['fastify 4 public /public/a?x=;y', 'express 5 public /public/a?x=;y'],
      );
    } finally {
      await Promise.all(apps.map((a) => a.close()));
    }
  });

  it('"keep" with routers that take `;` as a character (Express, Fastify 5 defaults): `;` reaches the handler, /admin;x reaches no admin handler', async () => {
    const hits: Hit[] = [];
    const apps = await startFrameworkApps(wrapWith(new TestPolicySource(deny), 'keep'), hits, ['express 4', 'express 5', 'fastify 5']);
    try {
      for (const app of apps) {
        const before = hits.length;
        const pub = await rawRequest(app.port, { target: '/public/a;b' });
        assert.equal(pub.status, 200, app.name);
        assert.deepEqual(hits.slice(before), [{ app: app.name, route: 'public', url: '/public/a;b' }]);
        for (const line of ['/admin;x', '/admin;x/y', '/ADMIN;x']) {
          const n = hits.length;
          const reply = await rawRequest(app.port, { target: line });
          assert.deepEqual(hits.slice(n), [], `${app.name} ${line} -> ${reply.status}`);
        }
        assert.equal((await rawRequest(app.port, { target: '/admin/;x' })).status, 403, `${app.name}: /admin/;x is under /admin`);
      }
    } finally {
      await Promise.all(apps.map((a) => a.close()));
    }
  });
});
