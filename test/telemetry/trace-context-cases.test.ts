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
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildDir, startNode, type Child } from '../helpers/process.js';
import { CASES, checkHop as checkCase, get, recorder, sentTraceparent, TP_UNSAMPLED, TRACE, type Case, type Received } from '../helpers/trace-cases.js';

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
  const sent = sentTraceparent(incoming);
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

  const checkHop = (r: Received | undefined, c: Case, mode: string, where: string, traceId: string): Received => checkCase(r, c, `${c.name}, ${mode}, ${where}`, traceId);

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
          if (c.same) assert.equal(meshTp, sentTraceparent(c)!);
          else assert.ok(meshTp.endsWith('-00'), `a trace the mesh starts is not sampled (${meshTp})`);
          assert.equal(ptTp, meshTp, 'both calls of the request carry its trace context');
        } else if (c.same && sentTraceparent(c)!.endsWith('-00')) {
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
