/**
 * The inbound telemetry layer with no SDK, on real servers: a request's trace headers reach the mesh
 * calls its handler makes through the AsyncLocalStorage the handler runs in, across its awaits, unless
 * the server is marked passTraceItself (the gateway's ports), whose handler sets them on its calls
 * itself: then the handler does not run in the storage (whose first use turns on promise hooks for the
 * whole process) and reads the same headers from the request (incomingTraceHeaders).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { inboundTelemetry } from '../../src/server/telemetry-layer.js';
import { incomingPassthrough } from '../../src/telemetry/context.js';
import { MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
import { getTraceId, incomingTraceHeaders, passTraceItself } from '../../src/telemetry/server-request.js';
import { validTraceparent } from '../../src/telemetry/w3c.js';
import { get } from '../helpers/trace-cases.js';

const TP = '00-12345678901234567890123456789012-1234567890123456-01';

interface Seen {
  /** What the storage holds in the handler, before and after an await. */
  stored: Record<string, string> | null;
  storedAfterAwait: Record<string, string> | null;
  /** What the request says. */
  headers: Record<string, string> | null;
  traceId: string | null;
}

const servers: http.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A server whose handler is the telemetry layer around one that answers with what it could read. */
async function start(marked: boolean): Promise<number> {
  const app = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const stored = incomingPassthrough() ?? null;
    void Promise.resolve().then(() => {
      const seen: Seen = { stored, storedAfterAwait: incomingPassthrough() ?? null, headers: incomingTraceHeaders(req) ?? null, traceId: getTraceId(req) ?? null };
      res.end(JSON.stringify(seen));
    });
  };
  const server = http.createServer(inboundTelemetry(new MeshTelemetry({ service: 'web' }))(app));
  if (marked) passTraceItself(server);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('inbound telemetry: where a handler finds its trace headers (no SDK)', () => {
  it('an ordinary server: in the storage, across awaits, the same the request names', async () => {
    const port = await start(false);
    for (const headers of [{ traceparent: TP, tracestate: 'foo=1' }, {}] as Record<string, string>[]) {
      const seen = JSON.parse(await get(port, '/', headers)) as Seen;
      assert.ok(seen.headers && validTraceparent(seen.headers.traceparent!), JSON.stringify(seen));
      assert.deepEqual(seen.stored, seen.headers);
      assert.deepEqual(seen.storedAfterAwait, seen.headers);
      assert.equal(seen.traceId, seen.headers.traceparent!.slice(3, 35));
    }
  });

  it('a server marked passTraceItself: not in the storage; the request names the same headers', async () => {
    const port = await start(true);
    const valid = JSON.parse(await get(port, '/', { traceparent: TP, tracestate: 'foo=1' })) as Seen;
    assert.equal(valid.stored, null);
    assert.equal(valid.storedAfterAwait, null);
    assert.deepEqual(valid.headers, { traceparent: TP, tracestate: 'foo=1' });
    // No traceparent, or an invalid one: a fresh unsampled trace, named alike by the headers and getTraceId.
    for (const headers of [{}, { traceparent: 'garbage', tracestate: 'foo=1' }] as Record<string, string>[]) {
      const fresh = JSON.parse(await get(port, '/', headers)) as Seen;
      assert.equal(fresh.stored, null);
      assert.deepEqual(Object.keys(fresh.headers ?? {}), ['traceparent'], JSON.stringify(fresh));
      assert.ok(validTraceparent(fresh.headers!.traceparent!) && fresh.headers!.traceparent!.endsWith('-00'), JSON.stringify(fresh));
      assert.equal(fresh.traceId, fresh.headers!.traceparent!.slice(3, 35));
    }
  });
});
