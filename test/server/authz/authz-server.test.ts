/**
 * Authorization in a wrapped server, over real sockets: the authorization
 * table end to end (peer set on the server's socket, as the mTLS front does),
 * identity headers stripped, what the handler sees, refusals, counters, logs,
 * policy changes, and the wait for the first policies.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Logger } from '../../../src/core/logger.js';
import { InboundAuthorization } from '../../../src/server/authz/authorization.js';
import { setPeer, type PeerIdentity } from '../../../src/server/peer.js';
import { wrapServer, wrappedState } from '../../../src/server/wrap-server.js';
import { TestPolicySource } from '../../helpers/policy-source.js';
import { rawRequest, type RawReply } from '../../helpers/raw-http.js';
import { CASES, OPS, WEB, policy, probeName } from './authz-cases.js';

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  distinct: NodeJS.Dict<string[]>;
}

function captureLogger(): Logger & { lines: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, ...(fields ? { fields } : {}) });
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

class Harness {
  source = new TestPolicySource([]);
  logger = captureLogger();
  seen: Seen[] = [];
  /** The identity the next accepted connection gets (the mTLS front's job, done here through the same seam). */
  nextPeer: PeerIdentity | undefined;
  server!: http.Server;
  port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.seen.push({ url: req.url!, headers: { ...req.headers }, rawHeaders: [...req.rawHeaders], distinct: { ...req.headersDistinct } });
      res.end('handler');
    });
    this.server.on('connection', (socket: Socket) => {
      if (this.nextPeer) setPeer(socket, this.nextPeer);
    });
    wrapServer(this.server, {
      registrar: async () => undefined,
      logger: this.logger,
      defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 1_000 },
      policies: this.source,
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async send(req: Parameters<typeof rawRequest>[1], peer?: PeerIdentity): Promise<{ reply: RawReply; handled: Seen | undefined }> {
    this.nextPeer = peer;
    const before = this.seen.length;
    const reply = await rawRequest(this.port, req);
    return { reply, handled: this.seen[before] };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => http.Server.prototype.close.call(this.server, () => resolve()));
  }
}

describe('authorization in a wrapped server (raw sockets)', () => {
  const h = new Harness();
  before(() => h.start());
  after(() => h.stop());

  it('the authorization table, end to end: 200 from the handler or 403 without it', async () => {
    let probes = 0;
    const problems: string[] = [];
    for (const c of CASES) {
      h.source.set(c.policies);
      for (const p of c.probes) {
        const { reply, handled } = await h.send({ method: p.method ?? 'GET', target: p.target, headers: p.headers ?? [] }, p.peer);
        probes++;
        const allowed = p.expect === 'allow';
        if (allowed && (reply.status !== 200 || !handled)) problems.push(`${c.name}: ${probeName(p)} got ${reply.status}, expected 200 from the handler`);
        if (!allowed && (reply.status !== 403 || handled)) problems.push(`${c.name}: ${probeName(p)} got ${reply.status}${handled ? ' and ran the handler' : ''}, expected 403`);
        if (!allowed && p.method !== 'HEAD') assert.equal(JSON.parse(reply.body).error.code, 'HYPHAE_ERR_AUTHZ_DENIED');
      }
    }
    assert.deepEqual(problems, []);
    console.log(`# authorization table over sockets: ${CASES.length} cases, ${probes} requests, ${problems.length} unexpected`);
  });

  it('strips identity headers from headers, rawHeaders and headersDistinct; other headers stay', async () => {
    h.source.set([]);
    const { reply, handled } = await h.send({
      target: '/who',
      headers: [
        ['X-Forwarded-Client-Cert', 'By=spiffe://hyphae.local/ns/ops/sa/admin-tool'],
        ['x-hyphae-peer', OPS.id],
        ['X-Hyphae-Peer', 'again'],
        ['x-hyphae-peer-identity', OPS.id],
        ['X-HYPHAE-INTERNAL', '1'],
        ['x-keep', 'yes'],
      ],
    });
    assert.equal(reply.status, 200);
    assert.ok(handled);
    const names = handled.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.deepEqual(names, ['host', 'connection', 'x-keep']);
    assert.deepEqual(Object.keys(handled.headers).sort(), ['connection', 'host', 'x-keep']);
    assert.deepEqual(Object.keys(handled.distinct).sort(), ['connection', 'host', 'x-keep']);
  });

  it('an identity header from the wire cannot satisfy a policy', async () => {
    h.source.set([policy('needs-peer-header', 'ALLOW', [{ when: { headers: [{ name: 'x-hyphae-peer', values: ['*'] }] } }])]);
    const { reply, handled } = await h.send({ target: '/x', headers: [['x-hyphae-peer', WEB.id]] });
    assert.equal(reply.status, 403);
    assert.equal(handled, undefined);
  });

  it('the handler sees the normalized path with the query; a refused target gets 400, closes, and never reaches it', async () => {
    h.source.set([]);
    const ok = await h.send({ target: 'http://localhost/public//a/./b/../%63?q=/../x#frag' });
    assert.equal(ok.reply.status, 200);
    assert.equal(ok.handled?.url, '/public/a/c?q=/../x');

    const bad = await h.send({ target: '/public/..%2Fadmin' });
    assert.equal(bad.reply.status, 400);
    assert.equal(bad.handled, undefined);
    assert.equal(bad.reply.headers.connection, 'close');
    assert.deepEqual(JSON.parse(bad.reply.body).error, { code: 'HYPHAE_ERR_BAD_REQUEST_TARGET', message: 'encoded "/", "\\" or NUL in the path' });
  });

  it('counts and logs denials (by policy) and refused targets on the server state, through the logger', async () => {
    const stats = wrappedState(h.server)!.authz;
    const before = { denied: stats.denied, bad: stats.badTargets, byPolicy: stats.deniedBy.get('default/no-admin') ?? 0, byDefault: stats.deniedBy.get('(no ALLOW match)') ?? 0 };
    h.logger.lines.length = 0;
    h.source.set([policy('no-admin', 'DENY', [{ to: { paths: [{ value: '/admin' }] } }]), policy('public', 'ALLOW', [{ to: { paths: [{ value: '/public' }] } }])]);
    assert.equal(stats.policies, 2);
    assert.equal((await h.send({ target: '/admin/x' }, WEB)).reply.status, 403);
    assert.equal((await h.send({ target: '/other' })).reply.status, 403);
    assert.equal((await h.send({ target: '/public/x' })).reply.status, 200);
    assert.equal((await h.send({ target: '/a\\b' })).reply.status, 400);
    assert.equal(stats.denied - before.denied, 2);
    assert.equal((stats.deniedBy.get('default/no-admin') ?? 0) - before.byPolicy, 1);
    assert.equal((stats.deniedBy.get('(no ALLOW match)') ?? 0) - before.byDefault, 1);
    assert.equal(stats.badTargets - before.bad, 1);
    const infos = h.logger.lines.filter((l) => l.level === 'info');
    assert.deepEqual(
      infos.map((l) => [l.msg, l.fields?.policy ?? l.fields?.reason, l.fields?.path ?? l.fields?.target, l.fields?.peer]),
      [
        ['hyphae: request denied by authorization', 'default/no-admin', '/admin/x', WEB.id],
        ['hyphae: request denied by authorization', '(no ALLOW match)', '/other', null],
        ['hyphae: request target refused', 'backslash in the request target', '/a\\b', undefined],
      ],
    );
  });

  it('a policy change applies to the very next request', async () => {
    h.source.set([]);
    assert.equal((await h.send({ target: '/admin' })).reply.status, 200);
    h.source.set([policy('no-admin', 'DENY', [{ to: { paths: [{ value: '/admin' }] } }])]);
    assert.equal((await h.send({ target: '/admin' })).reply.status, 403);
    h.source.set([]);
    assert.equal((await h.send({ target: '/admin' })).reply.status, 200);
  });
});

describe('before the first policies are known', () => {
  it('a wrapped server holds requests until the source answers, then applies what it says', async () => {
    const h = new Harness();
    h.source = new TestPolicySource();
    await h.start();
    try {
      const allowed = h.send({ target: '/public' });
      const denied = h.send({ target: '/admin' });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(h.seen.length, 0, 'nothing ran unchecked');
      h.source.set([policy('no-admin', 'DENY', [{ to: { paths: [{ value: '/admin' }] } }])]);
      assert.equal((await allowed).reply.status, 200);
      assert.equal((await denied).reply.status, 403);
      assert.deepEqual(
        h.seen.map((s) => s.url),
        ['/public'],
      );
    } finally {
      await h.stop();
    }
  });

  it('answers 503 with Retry-After once the wait is over, and counts it', async () => {
    const source = new TestPolicySource();
    const logger = captureLogger();
    const authz = new InboundAuthorization(source, logger, 150);
    let ran = 0;
    const server = http.createServer((req, res) =>
      authz.check(req, res, (_q, s) => {
        ran++;
        s.end('ok');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const t0 = performance.now();
      const reply = await rawRequest(port, { target: '/x' });
      const waited = performance.now() - t0;
      assert.equal(reply.status, 503);
      assert.equal(reply.headers['retry-after'], '1');
      assert.equal(JSON.parse(reply.body).error.code, 'HYPHAE_ERR_AUTHZ_NOT_READY');
      assert.ok(waited >= 140 && waited < 2_000, `waited ${waited} ms`);
      assert.equal(ran, 0);
      assert.equal(authz.stats.notReady, 1);
      assert.ok(logger.lines.some((l) => l.level === 'warn' && /still unknown/.test(l.msg)));
      source.set([]);
      assert.equal((await rawRequest(port, { target: '/x' })).status, 200);
      assert.equal(ran, 1);
    } finally {
      authz.close();
      assert.equal(source.subscribers, 0, 'close() unsubscribes');
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a wrapped server follows its policies while it listens: unsubscribed on close, again on a new listen', async () => {
    const h2 = new Harness();
    h2.source.set([policy('no-admin', 'DENY', [{ to: { paths: [{ value: '/admin' }] } }])]);
    await h2.start();
    assert.equal(h2.source.subscribers, 1);
    assert.equal((await h2.send({ target: '/admin' })).reply.status, 403);
    await h2.stop();
    assert.equal(h2.source.subscribers, 0, 'a closed server holds no subscription');
    await new Promise<void>((resolve) => h2.server.listen(0, '127.0.0.1', resolve));
    h2.port = (h2.server.address() as AddressInfo).port;
    try {
      assert.equal(h2.source.subscribers, 1, 'listening again follows the policies again');
      h2.source.set([policy('no-public', 'DENY', [{ to: { paths: [{ value: '/public' }] } }])]);
      assert.equal((await h2.send({ target: '/public' })).reply.status, 403);
      assert.equal((await h2.send({ target: '/admin' })).reply.status, 200);
    } finally {
      await h2.stop();
    }
  });

  it('without a policy source there is nothing to wait for: no policies, everything allowed', async () => {
    const authz = new InboundAuthorization(undefined, captureLogger());
    assert.equal(authz.stats.policies, 0);
    let ran = false;
    authz.check({ url: '/x', method: 'GET', rawHeaders: [], socket: {} } as unknown as http.IncomingMessage, {} as http.ServerResponse, () => (ran = true));
    assert.equal(ran, true);
  });
});
