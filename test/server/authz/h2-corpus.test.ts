/**
 * The bypass corpus (test/fixtures/corpus) sent as HTTP/2 `:path` values
 * through a raw node:http2 client session to a wrapped h2c server (issue 18):
 * nghttp2's own checks first, the mesh's pseudo-header checks and path
 * normalization after. 0 bypasses against the same policies as the HTTP/1.1
 * corpus test; malformed `:authority` and `:path` values are refused.
 */
import assert from 'node:assert/strict';
import http2, { type ClientHttp2Session, type Http2Server } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { h2Request, listenWrapped, type H2Reply } from '../../helpers/h2-server.js';
import { TestPolicySource } from '../../helpers/policy-source.js';
import { corpus } from '../../helpers/corpus.js';
import { policy } from './authz-cases.js';

const BYPASS = corpus('path-bypass.txt');

const POLICIES = {
  'DENY PathPrefix /admin': [policy('deny-admin', 'DENY', [{ to: { paths: [{ type: 'PathPrefix', value: '/admin' }] } }])],
  'ALLOW PathPrefix /public': [policy('allow-public', 'ALLOW', [{ to: { paths: [{ type: 'PathPrefix', value: '/public' }] } }])],
};

function errorCode(r: H2Reply): string | undefined {
  try {
    return (JSON.parse(r.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

describe('the bypass corpus as HTTP/2 :path values', () => {
  const source = new TestPolicySource();
  const handled: string[] = [];
  let server: Http2Server;
  let port: number;
  let session: ClientHttp2Session;

  /** A fresh session when nghttp2 (or the peer) ended the last one over a malformed request. */
  const open = () => {
    if (session && !session.closed && !session.destroyed) return session;
    session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    return session;
  };
  /** The reply, or how the request failed before one: the client refused to send it, or the stream was reset. */
  const send = async (headers: http2.OutgoingHttpHeaders): Promise<H2Reply | string> => {
    try {
      return await h2Request(open(), headers);
    } catch (err) {
      return `not answered: ${(err as Error).message}`;
    }
  };

  before(async () => {
    server = http2.createServer((req, res) => {
      handled.push(req.url);
      res.end('handler');
    });
    port = await listenWrapped(server, { policies: source });
  });
  after(async () => {
    session?.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  for (const [label, policies] of Object.entries(POLICIES)) {
    it(`${label}: no bypass line reaches the handler`, async () => {
      source.set(policies);
      const bypasses: string[] = [];
      const by = new Map<string, number>();
      for (const line of BYPASS) {
        const before = handled.length;
        const reply = await send({ ':path': line });
        const who = typeof reply === 'string' ? 'nghttp2 / client (no answer)' : reply.status === 400 ? `400 ${errorCode(reply) ?? 'nghttp2'}` : `${reply.status} ${errorCode(reply) ?? ''}`;
        by.set(who, (by.get(who) ?? 0) + 1);
        const refused = typeof reply === 'string' || reply.status === 400 || reply.status === 403;
        if (!refused || handled.length !== before) bypasses.push(`${JSON.stringify(line)} -> ${who}, handler saw ${JSON.stringify(handled.slice(before))}`);
      }
      console.log(`# h2 ${label}: ${BYPASS.length} bypass lines, bypasses found = ${bypasses.length}; ${[...by].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
      assert.deepEqual(bypasses, []);
    });
  }

  it('a benign :path still reaches the handler, normalized', async () => {
    source.set(POLICIES['ALLOW PathPrefix /public']);
    const reply = await send({ ':path': '/public/a/../b?x=1' });
    assert.equal(typeof reply === 'string' ? reply : reply.status, 200);
    assert.equal(handled.at(-1), '/public/b?x=1');
  });

  it('malformed :authority, host and :path values are refused before the handler', async () => {
    source.set([]);
    const cases: [string, http2.OutgoingHttpHeaders][] = [
      ['userinfo in :authority', { ':path': '/x', ':authority': 'admin@api' }],
      ['space in :authority', { ':path': '/x', ':authority': 'api x' }],
      ['non-numeric port', { ':path': '/x', ':authority': 'api:80x' }],
      ['port too long', { ':path': '/x', ':authority': 'api:123456' }],
      ['unclosed IPv6 literal', { ':path': '/x', ':authority': '[::1' }],
      ['percent-escape in :authority', { ':path': '/x', ':authority': 'ap%69' }],
      ['host differs from :authority', { ':path': '/x', ':authority': 'api', host: 'admin' }],
      ['absolute-form :path', { ':path': 'http://api/admin' }],
      ['relative :path', { ':path': 'admin' }],
      ['* for a GET', { ':path': '*' }],
    ];
    const wrong: string[] = [];
    for (const [label, headers] of cases) {
      const before = handled.length;
      const reply = await send(headers);
      const status = typeof reply === 'string' ? reply : reply.status;
      if ((status !== 400 && typeof status !== 'string') || handled.length !== before) wrong.push(`${label}: ${status}`);
      else if (typeof reply !== 'string' && errorCode(reply) !== 'HYPHAE_ERR_BAD_REQUEST_TARGET') wrong.push(`${label}: 400 without the mesh's code`);
    }
    assert.deepEqual(wrong, []);
    // And a well-formed one with both, equal but for case, passes.
    const ok = await send({ ':path': '/x', ':authority': 'API:8080', host: 'api:8080' });
    assert.equal(typeof ok === 'string' ? ok : ok.status, 200);
  });
});
