/**
 * Requests Node hands to the application through events other than
 * 'request' — Expect: 100-continue ('checkContinue'), other expectations
 * ('checkExpectation'), Upgrade ('upgrade') and CONNECT ('connect') — go
 * through the same normalization and authorization, over raw sockets.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/core/logger.js';
import { wrapServer, wrappedState } from '../../../src/server/wrap-server.js';
import { TestPolicySource } from '../../helpers/policy-source.js';
import { rawExchange, rawRequest } from '../../helpers/raw-http.js';
import { policy } from './authz-cases.js';

describe('requests through the side doors', () => {
  const source = new TestPolicySource([
    policy('no-admin', 'DENY', [{ to: { paths: [{ value: '/admin' }] } }]),
    policy('public', 'ALLOW', [{ to: { paths: [{ value: '/public' }] } }, { to: { methods: ['CONNECT'] }, when: { headers: [{ name: 'x-tunnel', values: ['ok'] }] } }]),
  ]);
  const ran: string[] = [];
  let server: http.Server;
  let port: number;

  before(async () => {
    server = http.createServer((req, res) => {
      ran.push(`request ${req.url}`);
      res.end('request');
    });
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
      ran.push(`checkContinue ${req.url}`);
      res.writeContinue();
      res.end('continued');
    });
    server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
      ran.push(`checkExpectation ${req.url}`);
      res.end('expected');
    });
    server.on('upgrade', (req: http.IncomingMessage, socket) => {
      ran.push(`upgrade ${req.url} peer-header=${req.headers['x-hyphae-peer'] ?? 'none'}`);
      socket.end('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n');
    });
    server.on('connect', (req: http.IncomingMessage, socket) => {
      ran.push(`connect ${req.url}`);
      socket.end('HTTP/1.1 200 Connection Established\r\n\r\n');
    });
    wrapServer(server, { registrar: async () => undefined, logger: silentLogger, defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 1_000 }, policies: source });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => http.Server.prototype.close.call(server, () => resolve()));
  });

  async function expectOutcome(req: Parameters<typeof rawRequest>[1], status: number, handler: string | undefined): Promise<void> {
    const before = ran.length;
    const reply = await rawRequest(port, req);
    assert.equal(reply.status, status, `${req.method ?? 'GET'} ${req.target}`);
    assert.deepEqual(ran.slice(before), handler ? [handler] : [], `${req.method ?? 'GET'} ${req.target}`);
  }

  it('Expect: 100-continue and other expectations', async () => {
    const expect100: [string, string][] = [
      ['expect', '100-continue'],
      ['content-length', '0'],
    ];
    await expectOutcome({ target: '/public/../admin', headers: expect100 }, 403, undefined);
    await expectOutcome({ target: '/%2Fadmin', headers: expect100 }, 400, undefined);
    await expectOutcome({ target: '/public/./a', headers: expect100 }, 200, 'checkContinue /public/a');
    await expectOutcome({ target: '/admin', headers: [['expect', 'x-other']] }, 403, undefined);
    await expectOutcome({ target: '/public', headers: [['expect', 'x-other']] }, 200, 'checkExpectation /public');
  });

  it('Upgrade: refused on the raw socket, or handed over normalized and without identity headers', async () => {
    const up: [string, string][] = [
      ['connection', 'upgrade'],
      ['upgrade', 'test'],
      ['x-hyphae-peer', 'spiffe://forged/ns/a/sa/b'],
    ];
    await expectOutcome({ target: '/admin/ws', headers: up }, 403, undefined);
    await expectOutcome({ target: '/public/..%5Cadmin', headers: up }, 400, undefined);
    await expectOutcome({ target: '/other', headers: up }, 403, undefined);
    await expectOutcome({ target: '/public//ws', headers: up }, 101, 'upgrade /public/ws peer-header=none');
  });

  it('CONNECT: matched on method and headers (its target is an authority, not a path)', async () => {
    const connect = (extra: string) => rawExchange(port, `CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n${extra}\r\n`);
    const before = ran.length;
    assert.equal((await connect('')).status, 403);
    assert.deepEqual(ran.slice(before), []);
    assert.equal((await connect('x-tunnel: ok\r\n')).status, 200);
    assert.deepEqual(ran.slice(before), ['connect example.com:443']);
  });

  it('counts side-door refusals with the rest', () => {
    const stats = wrappedState(server)!.authz;
    assert.ok(stats.denied >= 5 && stats.badTargets >= 2, JSON.stringify({ denied: stats.denied, badTargets: stats.badTargets }));
  });
});
