/**
 * W3C Trace Context cases in the spirit of the spec's own test suite (w3c/trace-context test/test.py):
 * crafted traceparent/tracestate headers, and what a next hop must receive for each (exactly one
 * traceparent, the same trace id when the incoming one was valid and a new one when not, a tracestate
 * sanitized per the grammar). Shared by the wrapped server's cases (test/telemetry/trace-context-cases.test.ts)
 * and the gateway's (test/gateway/trace-context.test.ts), with a recorder for the next hop and a client
 * that sends the headers as given (several lines of one name included).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { validTraceparent } from '../../src/telemetry/w3c.js';

export const TRACE = '12345678901234567890123456789012';
export const TP = `00-${TRACE}-1234567890123456-01`;
export const TP_UNSAMPLED = `00-${TRACE}-1234567890123456-00`;
const bars = (n: number) => Array.from({ length: n }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${String(i + 1).padStart(2, '0')}`).join(',');

export interface Case {
  name: string;
  headers: Record<string, string | string[]>;
  /** The incoming traceparent is valid: its trace id goes on. */
  same: boolean;
  /** The tracestate each next hop must receive (none: undefined). */
  tracestate?: string;
}

export const CASES: Case[] = [
  { name: 'valid, sampled', headers: { traceparent: TP }, same: true },
  { name: 'valid, not sampled', headers: { traceparent: TP_UNSAMPLED }, same: true },
  { name: 'none', headers: {}, same: false },
  { name: 'version ff', headers: { traceparent: `ff-${TRACE}-1234567890123456-01` }, same: false },
  { name: 'trace id of zeros', headers: { traceparent: `00-${'0'.repeat(32)}-1234567890123456-01` }, same: false },
  { name: 'parent id of zeros', headers: { traceparent: `00-${TRACE}-${'0'.repeat(16)}-01` }, same: false },
  { name: 'upper-case hex', headers: { traceparent: `00-${TRACE.replace('1', 'A')}-1234567890123456-01` }, same: false },
  { name: 'illegal character', headers: { traceparent: `00-${TRACE}-1234567890123.56-01` }, same: false },
  { name: 'version 00 with a 5th field', headers: { traceparent: `${TP}-what` }, same: false },
  { name: 'trace id too short', headers: { traceparent: `00-${TRACE.slice(1)}-1234567890123456-01` }, same: false },
  { name: 'future version, more fields', headers: { traceparent: `cc-${TRACE}-1234567890123456-01-what-the-future-holds` }, same: true },
  { name: 'two traceparent headers', headers: { traceparent: [TP, `00-${'a'.repeat(32)}-1234567890123456-01`] }, same: false },
  { name: 'header name in mixed case, OWS around', headers: { TraceParent: ` \t${TP}\t ` }, same: true },
  { name: 'tracestate without traceparent', headers: { tracestate: 'foo=1' }, same: false },
  { name: 'tracestate with an invalid traceparent', headers: { traceparent: `00-${TRACE}-1234567890123456-0g`, tracestate: 'foo=1' }, same: false },
  { name: 'tracestate, valid list', headers: { traceparent: TP, tracestate: 'foo=1,bar=2,congo=t61rcWkgMzE' }, same: true, tracestate: 'foo=1,bar=2,congo=t61rcWkgMzE' },
  { name: 'tracestate, tenant@system key', headers: { traceparent: TP, tracestate: 'foo@bar=1,baz=2' }, same: true, tracestate: 'foo@bar=1,baz=2' },
  { name: 'tracestate, OWS and empty members', headers: { traceparent: TP, tracestate: 'foo=1 \t , \t bar=2,, baz=3 ' }, same: true, tracestate: 'foo=1,bar=2,baz=3' },
  { name: 'tracestate, three header lines', headers: { traceparent: TP, tracestate: ['foo=1,bar=2', 'rojo=1,congo=2', 'baz=3'] }, same: true, tracestate: 'foo=1,bar=2,rojo=1,congo=2,baz=3' },
  { name: 'tracestate, empty header', headers: { traceparent: TP, tracestate: '' }, same: true },
  { name: 'tracestate, illegal key `foo =1`', headers: { traceparent: TP, tracestate: 'foo =1' }, same: true },
  { name: 'tracestate, upper-case key', headers: { traceparent: TP, tracestate: 'FOO=1,bar=2' }, same: true },
  { name: 'tracestate, illegal value `foo=bar=baz`', headers: { traceparent: TP, tracestate: 'foo=bar=baz' }, same: true },
  { name: 'tracestate, empty value', headers: { traceparent: TP, tracestate: 'foo=,bar=3' }, same: true },
  { name: 'tracestate, bad vendor format', headers: { traceparent: TP, tracestate: 'foo@bar@baz=1,bar=2' }, same: true },
  { name: 'tracestate, 256-character key', headers: { traceparent: TP, tracestate: ['foo=1', `${'z'.repeat(256)}=1`] }, same: true, tracestate: `foo=1,${'z'.repeat(256)}=1` },
  { name: 'tracestate, 257-character key', headers: { traceparent: TP, tracestate: ['foo=1', `${'z'.repeat(257)}=1`] }, same: true },
  {
    name: 'tracestate, 241@14 key',
    headers: { traceparent: TP, tracestate: ['foo=1', `${'t'.repeat(241)}@${'v'.repeat(14)}=1`] },
    same: true,
    tracestate: `foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`,
  },
  { name: 'tracestate, 242@1 key', headers: { traceparent: TP, tracestate: ['foo=1', `${'t'.repeat(242)}@v=1`] }, same: true },
  { name: 'tracestate, 1@15 key', headers: { traceparent: TP, tracestate: ['foo=1', `t@${'v'.repeat(15)}=1`] }, same: true },
  { name: 'tracestate, 32 members', headers: { traceparent: TP, tracestate: bars(32) }, same: true, tracestate: bars(32) },
  { name: 'tracestate, 33 members', headers: { traceparent: TP, tracestate: bars(33) }, same: true },
  { name: 'tracestate, duplicated key', headers: { traceparent: TP, tracestate: 'foo=1,foo=2' }, same: true },
  { name: 'tracestate, duplicated key over two lines', headers: { traceparent: TP, tracestate: ['foo=1', 'foo=1'] }, same: true },
];

export interface Received {
  /** Every traceparent header line, and the joined tracestate lines. */
  traceparents: string[];
  tracestate: string | undefined;
}

/** The trace headers among a request's raw headers, as a next hop received them. */
export function traceHeaders(rawHeaders: readonly string[]): Received {
  const traceparents: string[] = [];
  const tracestates: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name === 'traceparent') traceparents.push(rawHeaders[i + 1]!);
    if (name === 'tracestate') tracestates.push(rawHeaders[i + 1]!);
  }
  return { traceparents, tracestate: tracestates.length ? tracestates.join(',') : undefined };
}

/** A plain node:http server that remembers the trace headers of the last request it answered. */
export async function recorder(): Promise<{ port: number; last: () => Received | undefined; close: () => void }> {
  let last: Received | undefined;
  const server = http.createServer((req, res) => {
    last = traceHeaders(req.rawHeaders);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    last: () => {
      const r = last;
      last = undefined;
      return r;
    },
    close: () => server.close(),
  };
}

export function get(port: number, urlPath: string, headers: Record<string, string | string[]> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${urlPath}: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The first traceparent a case sends, trimmed (undefined: none). */
export function sentTraceparent(c: Case): string | undefined {
  return [c.headers.traceparent ?? c.headers.TraceParent].flat()[0]?.trim();
}

/** What a next hop must have received for case `c`, whose trace the sender names `traceId`. */
export function checkHop(r: Received | undefined, c: Case, what: string, traceId: string): Received {
  assert.ok(r, `${what}: called`);
  assert.equal(r.traceparents.length, 1, `${what}: exactly one traceparent (${JSON.stringify(r.traceparents)})`);
  const tp = r.traceparents[0]!;
  assert.ok(validTraceparent(tp), `${what}: a valid traceparent (${tp})`);
  assert.equal(tp.slice(3, 35) === TRACE, c.same, `${what}: ${c.same ? 'the same' : 'a new'} trace id (${tp})`);
  assert.equal(tp.slice(3, 35), traceId, `${what}: the trace id the sender names`);
  assert.equal(r.tracestate, c.tracestate, `${what}: tracestate`);
  return r;
}
