/**
 * The control plane's log formats (log.ts): the text line stays as it was; the JSON line has time,
 * level, msg and component, the message's key=value pairs, and the caller's fields. The whole
 * process under --log-format json is in log-json.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify, eventLog, jsonLine } from '../../src/control-plane/log.js';

describe('control plane log formats', () => {
  it('text: an ISO timestamp and the message, unchanged', () => {
    const lines: string[] = [];
    eventLog((l) => lines.push(l))('watch open stream=abc… peer=127.0.0.1 services=default/api');
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z watch open stream=abc… peer=127\.0\.0\.1 services=default\/api$/);
  });

  it('json: one object per line with the stable fields first, then the pairs of the message', () => {
    const lines: string[] = [];
    eventLog((l) => lines.push(l), 'json')('error 500 GET /v1/x: Error: boom\n    at f (x.js:1:1)');
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes('\n'), 'a stack trace stays on the one line');
    const o = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o).slice(0, 4), ['time', 'level', 'msg', 'component']);
    assert.equal(o.level, 'error');
    assert.equal(o.component, 'http');
    assert.match(o.msg as string, /^error 500 GET \/v1\/x: Error: boom\n/);
    assert.ok(!Number.isNaN(Date.parse(o.time as string)));

    const reg = JSON.parse(jsonLine('register default/api 127.0.0.1:8080 lease=0123abcd… ttl=10s rev=12 tls-names=localhost,127.0.0.1')) as Record<string, unknown>;
    assert.equal(reg.component, 'registry');
    assert.equal(reg.level, 'info');
    assert.equal(reg.lease, '0123abcd…');
    assert.equal(reg.rev, 12);
    assert.equal(reg.ttl, '10s');
    assert.equal(reg.tlsNames, 'localhost,127.0.0.1');
  });

  it('json: the caller may set level and component and add fields; the stable fields cannot be overwritten', () => {
    const o = JSON.parse(jsonLine('connection cap reached: 3 connections open', { level: 'warn', component: 'metrics', max: 3, msg: 'forged', time: 'forged' })) as Record<string, unknown>;
    assert.equal(o.level, 'warn');
    assert.equal(o.component, 'metrics');
    assert.equal(o.max, 3);
    assert.equal(o.msg, 'connection cap reached: 3 connections open');
    assert.notEqual(o.time, 'forged');
  });

  it('reads level and component from the first words of every kind of line the control plane writes', () => {
    const cases: [string, string, string][] = [
      ['listening https://127.0.0.1:1 data=/d store=file', 'info', 'server'],
      ['reject 401 GET /metrics: no token', 'info', 'http'],
      ['reject tls from 127.0.0.1: ECONNRESET (1 so far)', 'info', 'http'],
      ['error etcd: refusing /k: not a join token', 'error', 'store'],
      ['error ca: bad state', 'error', 'ca'],
      ['error GET /v1/x: boom', 'error', 'http'],
      ['WARNING insecure: plain HTTP', 'warn', 'security'],
      ['WARNING connection cap reached: 4 connections open', 'warn', 'server'],
      ['warn registry-seen.json unreadable, nothing held: EACCES', 'warn', 'registry'],
      ['watch close stream=x… after=1s (client left)', 'info', 'watch'],
      ['stats: refused 2 stream(s)', 'info', 'stats'],
      ['apply Service default/api (created) rev=2', 'info', 'config'],
      ['expire default/api 1 lease=x… (no heartbeat for 10s)', 'info', 'registry'],
      ['restart: hold over; 1 services still have no instance', 'info', 'registry'],
      ['certificate default/api authority=a until=2026-01-01T00:00:00.000Z', 'info', 'ca'],
      ['admin token created in /d/admin-token', 'info', 'auth'],
      ['token revoked jt_0123456789abcdef (etcd revision 5)', 'info', 'auth'],
      ['metrics served at http://127.0.0.1:1/metrics', 'info', 'metrics'],
      ['shutting down (SIGTERM)', 'info', 'server'],
    ];
    for (const [message, level, component] of cases) assert.deepEqual(classify(message), { level, component }, message);
  });
});
