/**
 * The request-target corpora (test/fixtures/corpus, copied from the shared
 * corpus; see its README) against a wrapped server, over raw sockets so the
 * target reaches the server byte for byte. Must-show item 7: 0 bypasses, and
 * every benign path reaches its handler, which sees the normalized path.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/core/logger.js';
import { normalizeTarget } from '../../../src/server/authz/normalize-path.js';
import { wrapServer } from '../../../src/server/wrap-server.js';
import { TestPolicySource } from '../../helpers/policy-source.js';
import { rawRequest, type RawReply } from '../../helpers/raw-http.js';
import { corpus } from '../../helpers/corpus.js';
import { policy } from './authz-cases.js';

const BYPASS = corpus('path-bypass.txt');
const BENIGN = corpus('path-benign.txt');

/** What the handler must see for each benign line (req.url: normalized path, query kept). */
const EXPECTED_URL: Record<string, string> = {
  '/public': '/public',
  '/public/': '/public/',
  '/public/a': '/public/a',
  '/public/a/b': '/public/a/b',
  '/public/a%20b': '/public/a%20b',
  '/public?x=1': '/public?x=1',
  '/public/a?next=../admin': '/public/a?next=../admin',
  '/public/a.txt': '/public/a.txt',
  '/public/.well-known/x': '/public/.well-known/x',
  '/public/a..b': '/public/a..b',
  '/public/%7Euser': '/public/~user',
  '/public/a;b': '/public/a',
  '/public;v=1': '/public',
  '/public/a;b/c': '/public/a',
  '/public/ADMIN': '/public/ADMIN',
  '/public/admin;x': '/public/admin',
  '/public/a/./b': '/public/a/b',
  '/public/a/../b': '/public/b',
};

const POLICIES = {
  'DENY PathPrefix /admin': [policy('deny-admin', 'DENY', [{ to: { paths: [{ type: 'PathPrefix', value: '/admin' }] } }])],
  'ALLOW PathPrefix /public': [policy('allow-public', 'ALLOW', [{ to: { paths: [{ type: 'PathPrefix', value: '/public' }] } }])],
};

/** Who refused: the mesh's normalization (400), its authorization (403), or Node's own parser (400, no mesh body). */
function refusedBy(r: RawReply): string {
  let code: string | undefined;
  try {
    code = (JSON.parse(r.body) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  if (r.status === 400) return code === 'HYPHAE_ERR_BAD_REQUEST_TARGET' ? 'normalization 400' : 'http parser 400';
  if (r.status === 403 && code === 'HYPHAE_ERR_AUTHZ_DENIED') return 'authorization 403';
  return `not refused (${r.status})`;
}

describe('request-target corpora against a wrapped server', () => {
  const source = new TestPolicySource();
  const handled: string[] = [];
  let server: http.Server;
  let port: number;
  const totals = { requests: 0, bypasses: 0, benignOk: 0 };

  before(async () => {
    assert.ok(BYPASS.length >= 40 && BENIGN.length >= 10, `corpora read (${BYPASS.length} bypass, ${BENIGN.length} benign lines)`);
    server = http.createServer((req, res) => {
      handled.push(req.url!);
      res.end('handler');
    });
    wrapServer(server, { registrar: async () => undefined, logger: silentLogger, defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 1_000 }, policies: source });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => http.Server.prototype.close.call(server, () => resolve()));
    console.log(`# corpora: ${totals.requests} requests checked, bypasses found = ${totals.bypasses}, benign lines that reached the handler = ${totals.benignOk}`);
  });

  for (const [label, policies] of Object.entries(POLICIES)) {
    it(`${label}: every bypass line is refused (400 or 403) and the handler never runs`, async () => {
      source.set(policies);
      const bypasses: string[] = [];
      const by = new Map<string, number>();
      for (const line of BYPASS) {
        const before = handled.length;
        const reply = await rawRequest(port, { target: line });
        totals.requests++;
        const who = refusedBy(reply);
        by.set(who, (by.get(who) ?? 0) + 1);
        if ((reply.status !== 400 && reply.status !== 403) || handled.length !== before) {
          bypasses.push(`${JSON.stringify(line)} -> ${reply.status}, handler saw ${JSON.stringify(handled.slice(before))}`);
        }
      }
      totals.bypasses += bypasses.length;
      console.log(`# ${label}: ${BYPASS.length} bypass lines, bypasses found = ${bypasses.length}; refused by ${[...by].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
      assert.deepEqual(bypasses, []);
    });

    it(`${label}: every benign line reaches the handler (200), which sees the normalized path`, async () => {
      source.set(policies);
      const wrong: string[] = [];
      let fromTable = 0;
      for (const line of BENIGN) {
        const before = handled.length;
        const reply = await rawRequest(port, { target: line });
        totals.requests++;
        const seen = handled.slice(before);
        const normalized = normalizeTarget(line);
        const expected = EXPECTED_URL[line] ?? normalized;
        if (EXPECTED_URL[line] !== undefined) fromTable++;
        if (reply.status !== 200 || seen.length !== 1 || seen[0] !== expected || seen[0] !== normalized) {
          wrong.push(`${JSON.stringify(line)} -> ${reply.status}, handler saw ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`);
        } else if (!/^\/public(\/|\?|$)/.test(seen[0]!)) {
          wrong.push(`${JSON.stringify(line)} reached the handler as ${seen[0]}, outside /public`);
        } else {
          totals.benignOk++;
        }
      }
      console.log(`# ${label}: ${BENIGN.length} benign lines, ${BENIGN.length - wrong.length} reached the handler as expected (${fromTable} checked against the explicit table)`);
      assert.deepEqual(wrong, []);
    });
  }
});
