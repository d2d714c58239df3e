/**
 * What wrapServer adds per request, in one process over real sockets: the same
 * handler behind a plain `http.Server` and behind `wrapServer` (every layer the
 * mesh gives it: identity strip, drain, telemetry with no SDK as shipped,
 * normalization, authorization with its policies known and none applying,
 * deadline intake, refusal guard), both called by an undici Pool from this
 * process, in interleaved rounds. The client's work is the same for both, so
 * the difference of process CPU per request is the server stack's own cost —
 * steadier than bench:sidecar's cross-process figures on a shared machine,
 * since CPU time, unlike throughput, barely moves with what else runs.
 *
 *   node build/bench/server-stack-cost.js [--rounds 7] [--requests 40000] [--concurrency 32]
 *   node build/bench/server-stack-cost.js --emit [--rounds 15] [--requests 200000]
 *
 * --emit: no sockets. Each request is a real IncomingMessage and ServerResponse over a socket
 * that discards what is written, handed to `server.emit('request')` as Node's HTTP server does,
 * and closed as Node closes it (resOnFinish: detach, then 'close' on the next tick). Only the
 * JavaScript of Node's request objects and of the stack runs, so the difference is the stack's
 * own CPU to a tenth of a µs even on a busy machine; the socket rows are the check that it is
 * the same difference over loopback.
 *
 * Variants: `plain`; `wrapped` (the mesh's server, as createMesh makes it); `wrapped, no
 * telemetry` (telemetry off in the mesh's options), to tell the telemetry layer's share.
 */
import http from 'node:http';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { Logger } from '../src/core/logger.js';
import type { PolicySource } from '../src/server/policy-source.js';
import { wrapServer } from '../src/server/wrap-server.js';
import { MeshTelemetry } from '../src/telemetry/mesh-telemetry.js';
import { median } from './lib/load.js';

const body = Buffer.from('{"ok":true,"service":"bench"}');
const headers = { 'content-type': 'application/json', 'content-length': body.length };
const handler: http.RequestListener = (_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
};

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
/** The mesh's source once the control plane answered: no policy applies to this service. */
const noPolicies: PolicySource = {
  subscribe(listener) {
    listener([]);
    return () => {};
  },
};

interface Variant {
  name: string;
  server: http.Server;
  pool?: Pool;
  us: number[];
}

function wrapped(telemetry: boolean): http.Server {
  return wrapServer(
    http.createServer(handler),
    {
      registrar: async () => undefined,
      logger: silent,
      defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 1_000 },
      policies: noPolicies,
      ...(telemetry ? { telemetry: new MeshTelemetry({ service: 'bench' }) } : {}),
    },
    { register: false },
  );
}

/** Process CPU (user + system) per request, µs, over `requests` requests at `concurrency` closed loops. */
async function cpuPerRequest(pool: Pool, origin: string, requests: number, concurrency: number): Promise<number> {
  let left = requests;
  const loop = async () => {
    while (left-- > 0) {
      const r = await pool.request({ origin, path: '/items?n=1', method: 'GET' });
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`${origin} answered ${r.statusCode}`);
    }
  };
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / requests;
}

export async function serverStackCost(opts: { rounds: number; requests: number; concurrency: number }): Promise<ServerStackRow[]> {
  const variants: Variant[] = [
    { name: 'plain http.Server', server: http.createServer(handler), us: [] },
    { name: 'wrapServer (as shipped)', server: wrapped(true), us: [] },
    { name: 'wrapServer, no telemetry', server: wrapped(false), us: [] },
  ];
  try {
    for (const v of variants) {
      v.server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve) => v.server.listen(0, '127.0.0.1', resolve));
      const origin = `http://127.0.0.1:${(v.server.address() as AddressInfo).port}`;
      v.pool = new Pool(origin, { pipelining: 1 });
      await cpuPerRequest(v.pool, origin, Math.min(5_000, opts.requests), opts.concurrency);
    }
    for (let r = 0; r < opts.rounds; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const origin = `http://127.0.0.1:${(v.server.address() as AddressInfo).port}`;
        v.us.push(await cpuPerRequest(v.pool!, origin, opts.requests, opts.concurrency));
      }
      console.error(`round ${r + 1}: ${variants.map((v) => `${v.name} ${v.us[r]!.toFixed(2)}`).join(', ')} µs/request`);
    }
    // The added cost per round (same round, same drift), then the median.
    return report(variants);
  } finally {
    for (const v of variants) {
      await v.pool?.close();
      v.server.closeAllConnections();
      await new Promise<void>((resolve) => http.Server.prototype.close.call(v.server, () => resolve()));
    }
  }
}

/** A socket that takes every write at once (what a fast peer's kernel buffer does). */
class SinkSocket extends Writable {
  remoteAddress = '127.0.0.1';
  remotePort = 40000;
  localPort = 8080;
  encrypted = false;
  override _write(_chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    cb();
  }
  override _writev(_chunks: unknown, cb: (err?: Error | null) => void): void {
    cb();
  }
  setTimeout(): this {
    return this;
  }
}

const RAW = ['Host', 'bench', 'Connection', 'keep-alive'];

/** One request through `server.emit('request')`, resolved when its response has closed. */
function emitOne(server: http.Server): Promise<void> {
  // A socket per request: a Writable that has emitted one response's 'finish' does not emit the next one's
  // (the same constant cost in every variant).
  const socket = new SinkSocket();
  const req = new http.IncomingMessage(socket as never);
  req.method = 'GET';
  req.url = '/items?n=1';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.httpVersion = '1.1';
  (req as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines([...RAW], RAW.length);
  req.push(null);
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = true;
  res.assignSocket(socket as never);
  return new Promise((resolve) => {
    res.on('finish', () => {
      // Node's resOnFinish: the body was never read, the socket goes back, 'close' on the next tick.
      (req as unknown as { _dump(): void })._dump();
      res.detachSocket(socket as never);
      process.nextTick(() => {
        res.destroyed = true;
        res.emit('close');
        resolve();
      });
    });
    server.emit('request', req, res);
  });
}

async function emitCpuPerRequest(server: http.Server, requests: number, concurrency: number): Promise<number> {
  let left = requests;
  const loop = async () => {
    while (left-- > 0) await emitOne(server);
  };
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / requests;
}

export async function serverStackEmitCost(opts: { rounds: number; requests: number; concurrency: number }): Promise<ServerStackRow[]> {
  const variants: Variant[] = [
    { name: 'plain http.Server', server: http.createServer(handler), us: [] },
    { name: 'wrapServer (as shipped)', server: wrapped(true), us: [] },
    { name: 'wrapServer, no telemetry', server: wrapped(false), us: [] },
  ];
  // wrapServer opens authorization on 'listening'; these servers never listen.
  for (const v of variants) v.server.emit('listening');
  for (const v of variants) await emitCpuPerRequest(v.server, Math.min(20_000, opts.requests), opts.concurrency);
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) v.us.push(await emitCpuPerRequest(v.server, opts.requests, opts.concurrency));
    console.error(`round ${r + 1}: ${variants.map((v) => `${v.name} ${v.us[r]!.toFixed(2)}`).join(', ')} µs/request`);
  }
  return report(variants);
}

export interface ServerStackRow {
  name: string;
  /** Process CPU per request, µs, median round. */
  usPerRequest: number;
  /** Over the plain server in the same round, µs: median, and the rounds' spread. */
  addedUs: number;
  addedMinUs: number;
  addedMaxUs: number;
}

function report(variants: Variant[]): ServerStackRow[] {
  const base = variants[0]!;
  return variants.map((v) => {
    const added = v.us.map((u, i) => u - base.us[i]!);
    const sorted = [...added].sort((a, b) => a - b);
    const row = { name: v.name, usPerRequest: median(v.us), addedUs: median(added), addedMinUs: sorted[0]!, addedMaxUs: sorted[sorted.length - 1]! };
    console.log(
      `${v.name.padEnd(26)} ${row.usPerRequest.toFixed(2).padStart(7)} µs/request` +
        (v === base ? '' : `, added ${row.addedUs.toFixed(2)} µs (rounds ${row.addedMinUs.toFixed(2)} .. ${row.addedMaxUs.toFixed(2)})`),
    );
    return row;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      requests: { type: 'string', default: '40000' },
      concurrency: { type: 'string', default: '32' },
      emit: { type: 'boolean', default: false },
    },
  });
  if (values.emit) await serverStackEmitCost({ rounds: Number(values.rounds), requests: Number(values.requests), concurrency: Number(values.concurrency) });
  else await serverStackCost({ rounds: Number(values.rounds), requests: Number(values.requests), concurrency: Number(values.concurrency) });
}
