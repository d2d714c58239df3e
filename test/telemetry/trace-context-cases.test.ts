/**
 * W3C Trace Context case by case, in the spirit of the spec's own test suite (w3c/trace-context
 * test/test.py): a test client sends crafted traceparent/tracestate headers to a wrapped server (a
 * child process, test/helpers/trace-hop-service.ts) that calls a mesh service and a host that is not
 * a mesh service (both plain node:http servers here, on 127.0.0.1), and the test checks what each of
 * those next hops received: exactly one traceparent, the same trace id when the incoming one was valid
 * and a new one when not, a tracestate sanitized per the grammar (a valid list unchanged, order kept;
 * none without a valid traceparent). Both modes: sdk-node in the hop, and no SDK at all. Then
 * `telemetry.propagateTo` off and limited.
 *
 * HYPHAE_TRACE_TABLE=<file> writes the table of cases as observed (docs/usage.md, Telemetry).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validTraceparent } from '../../src/telemetry/w3c.js';
import { buildDir, startNode, type Child } from '../helpers/process.js';

const TRACE = '12345678901234567890123456789012';
const TP = `00-${TRACE}-1234567890123456-01`;
const TP_UNSAMPLED = `00-${TRACE}-1234567890123456-00`;
const bars = (n: number) => Array.from({ length: n }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${String(i + 1).padStart(2, '0')}`).join(',');

interface Case {
  name: string;
  headers: Record<string, string | string[]>;
  /** The incoming traceparent is valid: its trace id goes on. */
  same: boolean;
  /** The tracestate each next hop must receive (none: undefined). */
  tracestate?: string;
}

const CASES: Case[] = [
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

interface Received {
  /** Every traceparent header line, and the joined tracestate lines. */
  traceparents: string[];
  tracestate: string | undefined;
}

/** A plain node:http server that remembers the trace headers of the last request it answered. */
async function recorder(): Promise<{ port: number; last: () => Received | undefined; close: () => void }> {
  let last: Received | undefined;
  const server = http.createServer((req, res) => {
    const traceparents: string[] = [];
    const tracestates: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      if (name === 'traceparent') traceparents.push(req.rawHeaders[i + 1]!);
      if (name === 'tracestate') tracestates.push(req.rawHeaders[i + 1]!);
    }
    last = { traceparents, tracestate: tracestates.length ? tracestates.join(',') : undefined };
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

function get(port: number, urlPath: string, headers: Record<string, string | string[]> = {}): Promise<string> {
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

const script = path.join(buildDir, 'test/helpers/trace-hop-service.js');

interface Hop {
  child: Child;
  port: number;
}

async function startHop(env: Record<string, string>): Promise<Hop> {
  const child = startNode(script, [], env);
  const ready = await child.waitFor(/^ready port=(\d+)/, 60_000);
  return { child, port: Number(ready[1]) };
}

/** A header value for the table: the test's trace id as `T`, long values cut, several lines as `a` + `b`. */
function shown(v: string | string[] | undefined): string {
  if (v === undefined) return '—';
  if (Array.isArray(v)) return v.map(shown).join(' + ');
  const s = JSON.stringify(v)
    .slice(1, -1)
    .replaceAll(TRACE, 'T')
    .replace(/([a-z])\1{15,}/g, (run, c: string) => `${c}×${run.length}`);
  return `\`${s.length > 48 ? `${s.slice(0, 45)}...` : s}\``.replace(/\|/g, '\\|');
}

/** What a next hop received, as the table says it. */
function describeHop(r: Received, incoming: Case): string {
  const tp = r.traceparents[0]!;
  const sent = [incoming.headers.traceparent ?? incoming.headers.TraceParent].flat()[0]?.trim();
  const trace =
    tp.slice(3, 35) !== TRACE
      ? `new trace (${tp.endsWith('-00') ? 'not sampled' : 'sampled'})`
      : tp === sent
        ? 'same traceparent'
        : tp.slice(36, 52) === sent?.slice(36, 52)
          ? 'same trace, as version 00'
          : 'same trace, new parent id';
  const ts = r.tracestate === undefined ? 'no tracestate' : r.tracestate === incoming.headers.tracestate ? 'tracestate unchanged' : `tracestate ${shown(r.tracestate)}`;
  return `${trace}; ${ts}`;
}

describe('W3C trace context through a wrapped server to a mesh service and a pass-through host', () => {
  let meshHost: Awaited<ReturnType<typeof recorder>>;
  let ptHost: Awaited<ReturnType<typeof recorder>>;
  const hops = new Map<string, Hop>();
  const table: string[] = [];

  before(async () => {
    meshHost = await recorder();
    ptHost = await recorder();
    const base = { TRACE_MESH_PORT: String(meshHost.port), TRACE_PASSTHROUGH: `http://127.0.0.1:${ptHost.port}` };
    const started = await Promise.all([
      startHop({ ...base, TRACE_SDK: '1' }),
      startHop(base),
      startHop({ ...base, TRACE_PROPAGATE_TO: 'false' }),
      startHop({ ...base, TRACE_SDK: '1', TRACE_PROPAGATE_TO: '["*.example.com"]' }),
      startHop({ ...base, TRACE_PROPAGATE_TO: '["*.example.com","127.0.0.1"]' }),
    ]);
    for (const [i, name] of ['sdk', 'no-sdk', 'no-sdk-off', 'sdk-limited', 'no-sdk-listed'].entries()) hops.set(name, started[i]!);
  });

  after(async () => {
    await Promise.all([...hops.values()].map((h) => h.child.kill()));
    meshHost?.close();
    ptHost?.close();
    const out = process.env.HYPHAE_TRACE_TABLE;
    if (out && table.length === CASES.length) {
      const head = '| case | traceparent sent | tracestate sent | no SDK: mesh host | no SDK: pass-through host | SDK: mesh host | SDK: pass-through host |\n|---|---|---|---|---|---|---|\n';
      writeFileSync(out, head + table.join('\n') + '\n');
    }
  });

  /** One request through `hop`: what the mesh host and the pass-through host received, and the trace id the handler read. */
  async function through(hop: string, headers: Record<string, string | string[]>): Promise<{ mesh: Received; pt: Received | undefined; traceId: string }> {
    meshHost.last();
    ptHost.last();
    const body = JSON.parse(await get(hops.get(hop)!.port, '/', headers)) as { traceId: string | null };
    const mesh = meshHost.last();
    assert.ok(mesh, 'the mesh host was called');
    assert.ok(body.traceId, 'the handler can name the trace id of every request (getTraceId)');
    return { mesh, pt: ptHost.last(), traceId: body.traceId };
  }

  function checkHop(r: Received | undefined, c: Case, mode: string, where: string, traceId: string): Received {
    const what = `${c.name}, ${mode}, ${where}`;
    assert.ok(r, `${what}: called`);
    assert.equal(r.traceparents.length, 1, `${what}: exactly one traceparent (${JSON.stringify(r.traceparents)})`);
    const tp = r.traceparents[0]!;
    assert.ok(validTraceparent(tp), `${what}: a valid traceparent (${tp})`);
    assert.equal(tp.slice(3, 35) === TRACE, c.same, `${what}: ${c.same ? 'the same' : 'a new'} trace id (${tp})`);
    assert.equal(tp.slice(3, 35), traceId, `${what}: the trace id the handler names`);
    assert.equal(r.tracestate, c.tracestate, `${what}: tracestate`);
    return r;
  }

  for (const c of CASES) {
    it(`${c.name}: one traceparent, ${c.same ? 'the same' : 'a new'} trace, ${c.tracestate === undefined ? 'no tracestate' : 'the valid tracestate'}`, async () => {
      const cells: string[] = [];
      for (const mode of ['no-sdk', 'sdk']) {
        const { mesh, pt, traceId } = await through(mode, c.headers);
        checkHop(mesh, c, mode, 'mesh host', traceId);
        checkHop(pt, c, mode, 'pass-through host', traceId);
        const meshTp = mesh.traceparents[0]!;
        const ptTp = pt!.traceparents[0]!;
        if (mode === 'no-sdk') {
          // Nothing records here: a valid traceparent goes on as it came; a new trace is started unsampled.
          if (c.same) assert.equal(meshTp, [c.headers.traceparent ?? c.headers.TraceParent].flat()[0]!.trim());
          else assert.ok(meshTp.endsWith('-00'), `a trace the mesh starts is not sampled (${meshTp})`);
          assert.equal(ptTp, meshTp, 'both calls of the request carry its trace context');
        } else if (c.same && [c.headers.traceparent ?? c.headers.TraceParent].flat()[0]!.trim().endsWith('-00')) {
          // Under an unsampled parent the parent-based sampler would drop every span: the mesh makes none
          // and carries the parent's context on unchanged (docs/architecture.md, Telemetry).
          assert.equal(meshTp, TP_UNSAMPLED);
          assert.equal(ptTp, TP_UNSAMPLED);
        } else {
          // A span per call: each next hop's parent is the CLIENT span of its own call.
          assert.equal(meshTp.slice(0, 3), '00-');
          assert.notEqual(meshTp.slice(36, 52), '1234567890123456');
          assert.notEqual(ptTp.slice(36, 52), meshTp.slice(36, 52), 'the pass-through call has a span of its own');
          const spans = JSON.parse(await get(hops.get('sdk')!.port, '/spans')) as { kind: number; spanId: string; traceId: string; url?: string }[];
          const ptSpan = spans.find((s) => s.spanId === ptTp.slice(36, 52));
          assert.ok(ptSpan, `the pass-through call's span was recorded (${JSON.stringify(spans)})`);
          assert.equal(ptSpan.kind, 2, 'a CLIENT span');
          assert.equal(ptSpan.url, `http://127.0.0.1:${ptHost.port}/hop`);
        }
        cells.push(describeHop(mesh, c), describeHop(pt!, c));
      }
      table.push(`| ${c.name} | ${shown(c.headers.traceparent ?? c.headers.TraceParent)} | ${shown(c.headers.tracestate)} | ${cells.join(' | ')} |`);
    });
  }

  it('a pass-through call through mesh.fetch is traced and carries the context too', async () => {
    const c = CASES.find((x) => x.name === 'tracestate, valid list')!;
    for (const mode of ['no-sdk', 'sdk']) {
      meshHost.last();
      ptHost.last();
      const body = JSON.parse(await get(hops.get(mode)!.port, '/fetch', c.headers)) as { traceId: string };
      checkHop(meshHost.last(), c, mode, 'mesh host', body.traceId);
      const pt = checkHop(ptHost.last(), c, mode, 'pass-through host (fetch)', body.traceId);
      if (mode === 'sdk') {
        const spans = JSON.parse(await get(hops.get('sdk')!.port, '/spans')) as { kind: number; spanId: string }[];
        assert.ok(
          spans.some((s) => s.kind === 2 && s.spanId === pt.traceparents[0]!.slice(36, 52)),
          JSON.stringify(spans),
        );
      }
    }
  });

  it('the access log names the trace id of every request, on both sides, with no SDK', async () => {
    const hop = hops.get('no-sdk')!;
    await get(hop.port, '/log');
    const { traceId } = await through('no-sdk', {});
    // The request's server line is written once its response is done: asked for until it is there.
    const lines: { side: string; path: string; trace_id?: string; peer?: string }[] = [];
    const deadline = Date.now() + 10_000;
    while (!lines.some((l) => l.side === 'server' && l.path === '/') && Date.now() < deadline) {
      for (const l of JSON.parse(await get(hop.port, '/log')) as string[]) lines.push(JSON.parse(l) as (typeof lines)[number]);
    }
    const server = lines.find((l) => l.side === 'server' && l.path === '/');
    assert.equal(server?.trace_id, traceId, JSON.stringify(lines));
    // Both calls the request made name it too: the mesh service's and the pass-through host's.
    const clients = lines.filter((l) => l.side === 'client' && l.path === '/hop');
    assert.equal(clients.length, 2, JSON.stringify(lines));
    for (const l of clients) assert.equal(l.trace_id, traceId, JSON.stringify(l));
  });

  it('propagateTo: false sends no trace context to the pass-through host, and still to the mesh service', async () => {
    const c = CASES.find((x) => x.name === 'tracestate, valid list')!;
    const { mesh, pt, traceId } = await through('no-sdk-off', c.headers);
    checkHop(mesh, c, 'no-sdk, propagateTo false', 'mesh host', traceId);
    assert.deepEqual(pt, { traceparents: [], tracestate: undefined });
  });

  it('propagateTo limited to other hosts: the pass-through call is traced (SDK) but carries no trace context', async () => {
    const c = CASES.find((x) => x.name === 'tracestate, valid list')!;
    const { mesh, pt, traceId } = await through('sdk-limited', c.headers);
    checkHop(mesh, c, 'sdk, propagateTo *.example.com', 'mesh host', traceId);
    assert.deepEqual(pt, { traceparents: [], tracestate: undefined });
    const spans = JSON.parse(await get(hops.get('sdk-limited')!.port, '/spans')) as { kind: number; url?: string; traceId: string }[];
    assert.ok(
      spans.some((s) => s.kind === 2 && s.url === `http://127.0.0.1:${ptHost.port}/hop` && s.traceId === TRACE),
      JSON.stringify(spans),
    );
  });

  it('propagateTo listing the host: the pass-through host gets the trace context', async () => {
    const c = CASES.find((x) => x.name === 'tracestate, valid list')!;
    const { mesh, pt, traceId } = await through('no-sdk-listed', c.headers);
    checkHop(mesh, c, 'no-sdk, propagateTo listed', 'mesh host', traceId);
    checkHop(pt, c, 'no-sdk, propagateTo listed', 'pass-through host', traceId);
  });
});
