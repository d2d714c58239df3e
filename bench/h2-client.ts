/**
 * HTTP/2 mesh calls (issue 18), in one run against the same `node:http2` server (allowHTTP1, mTLS, in its
 * own process, bench/lib/h2-echo-server.ts):
 *
 * - undici Pool, allowH2 (TLS): the baseline, what an application would write by hand, with the mesh's
 *   pool shape (H2_CONNECTIONS connections of H2_STREAMS_PER_CONNECTION streams) and the same certificate
 *   and SPIFFE check of the server;
 * - mesh.request over h2 (mTLS): the service's protocol `auto`, which negotiates h2;
 * - mesh.request over HTTP/1.1 (mTLS): a service whose spec sets `protocol: http1` (a connection per call
 *   in flight), to the same handler.
 *
 * The server is this file run as `serve` (bench/lib/h2-echo-server.ts). Two loads: many small calls (29-byte answers, --concurrency in flight) and large bodies (1 MiB answers,
 * --large-concurrency in flight). Rounds interleaved, median round; client CPU per request.
 *
 *   node build/bench/h2-client.js [--rounds 5] [--duration 3000] [--concurrency 64] [--large-concurrency 8]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Agent, Pool, request } from 'undici';
import { createMesh } from '../src/index.js';
import { H2_CONNECTIONS, H2_STREAMS_PER_CONNECTION } from '../src/client/endpoint/pool.js';
import { createCsr } from '../src/tls/csr.js';
import { generateKeyPair } from '../src/tls/keys.js';
import { spiffeServerCheck } from './lib/spiffe-server-check.js';
import { buildDir, cliPath, startNode } from '../examples/lib/child.js';
import { interleavedRounds } from './lib/load.js';
import { serveH2Echo } from './lib/h2-echo-server.js';
import { medianRow, type Row } from './overhead.js';
import { loadAverage, printRatioTable, TWO_LOAD_OPTIONS } from './lib/ratio-table.js';

export interface H2ClientOptions {
  durationMs: number;
  rounds: number;
  concurrency: number;
  largeConcurrency: number;
}

export async function h2Client(opts: H2ClientOptions): Promise<{ small: Row[]; large: Row[] }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-h2-'));
  const cp = startNode(cliPath, ['control-plane', '--port', '0', '--data-dir', dataDir]);
  const children = [cp];
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const url = (await cp.waitFor(/listening (https:\/\/\S+)/))[1]!;
    const caFile = path.join(dataDir, 'ca-bundle.pem');
    const admin = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
    const api = new Agent({ connect: { ca: await readFile(caFile, 'utf8') } });
    cleanups.push(() => api.close());
    const send = async <T>(method: 'POST' | 'PUT', p: string, body: unknown, token: string): Promise<T> => {
      const res = await request(`${url}${p}`, { method, dispatcher: api, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json = (await res.body.json()) as T;
      if (res.statusCode >= 300) throw new Error(`${p} answered ${res.statusCode}: ${JSON.stringify(json)}`);
      return json;
    };
    const token = async (service: string) => (await send<{ token: string }>('POST', '/v1/tokens', { service }, admin)).token;
    /** A workload certificate of `service` from the mesh CA, as the mesh itself gets one (CSR, key kept here). */
    const issue = async (service: string) => {
      const keys = await generateKeyPair();
      const signed = await send<{ certificate: string; chain: string[]; trustBundle: { trustDomain: string; roots: string[] } }>(
        'POST',
        '/v1/certificates',
        { csr: createCsr(keys, { trustDomain: 'hyphae.local', namespace: 'default', service }) },
        await token(service),
      );
      return { key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: signed.certificate + signed.chain.join(''), bundle: signed.trustBundle };
    };

    // One server process, two listeners: bench-h2 (protocol auto) and bench-h1 (protocol: http1).
    await send('PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'bench-h1' }, spec: { protocol: 'http1' } }, admin);
    const h2Cert = await issue('bench-h2');
    const h1Cert = await issue('bench-h1');
    const server = startNode(path.join(buildDir, 'bench/h2-client.js'), ['serve'], {
      H2_BENCH_CA: h2Cert.bundle.roots.join(''),
      H2_BENCH_CERTS: JSON.stringify([h2Cert, h1Cert].map(({ key, cert }) => ({ key, cert }))),
    });
    children.push(server);
    const [, h2Port, h1Port] = (await server.waitFor(/listening (\d+) (\d+)/, 15_000)).map(Number);
    // Registered here for the server process (it is not a mesh), with the longest lease, renewed while the bench runs.
    const leases: [string, string][] = [];
    for (const [service, port] of [
      ['bench-h2', h2Port],
      ['bench-h1', h1Port],
    ] as const) {
      const t = await token(service);
      leases.push([(await send<{ leaseId: string }>('POST', '/v1/instances', { service, address: '127.0.0.1', port, ttlSeconds: 300 }, t)).leaseId, t]);
    }
    const renew = setInterval(() => {
      for (const [id, t] of leases) void send('PUT', `/v1/leases/${encodeURIComponent(id)}`, undefined, t).catch(() => {});
    }, 30_000);
    cleanups.push(async () => clearInterval(renew));

    const mesh = await createMesh({ controlPlane: url, service: 'bench-client', token: await token('bench-client'), caFile });
    cleanups.push(() => mesh.close());

    // The raw client: a certificate of the client's identity, the same check of the server's SPIFFE ID.
    const client = await issue('bench-client');
    const expected = `spiffe://${client.bundle.trustDomain}/ns/default/sa/bench-h2`;
    const origin = `https://127.0.0.1:${h2Port}`;
    const pool = new Pool(origin, {
      allowH2: true,
      connections: H2_CONNECTIONS,
      pipelining: H2_STREAMS_PER_CONNECTION,
      connect: {
        key: client.key,
        cert: client.cert,
        ca: client.bundle.roots,
        checkServerIdentity: spiffeServerCheck(client.bundle.trustDomain, expected),
      },
    });
    cleanups.push(() => pool.close());

    const load = async (p: '/' | '/large', concurrency: number): Promise<Row[]> => {
      const check = (statusCode: number) => {
        if (statusCode !== 200) throw new Error(`answered ${statusCode}`);
      };
      const raw = 'undici Pool allowH2 (TLS)';
      const targets = [
        {
          name: raw,
          send: async () => {
            const r = await pool.request({ origin, path: p, method: 'GET' });
            await drain(r.body);
            check(r.statusCode);
          },
        },
        {
          name: 'mesh.request h2 (mTLS)',
          baseline: raw,
          send: async () => {
            const r = await mesh.request(`http://bench-h2${p}`);
            await drain(r.body);
            check(r.statusCode);
          },
        },
        {
          name: 'mesh.request HTTP/1.1 (mTLS)',
          baseline: raw,
          send: async () => {
            const r = await mesh.request(`http://bench-h1${p}`);
            await drain(r.body);
            check(r.statusCode);
          },
        },
      ];
      const results = await interleavedRounds(targets, { concurrency, durationMs: opts.durationMs, rounds: opts.rounds }, (t, res) => {
        if (res.errors > 0) throw new Error(`${res.errors} errors in ${t.name}`);
      });
      return targets.map((t) => medianRow(t.name, results.get(t.name)!, t.baseline));
    };
    process.stderr.write(`small answers, ${opts.concurrency} in flight\n`);
    const small = await load('/', opts.concurrency);
    process.stderr.write(`1 MiB answers, ${opts.largeConcurrency} in flight\n`);
    const large = await load('/large', opts.largeConcurrency);
    return { small, large };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await Promise.all(children.reverse().map((c) => c.kill()));
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Read a body to its end. Not `body.dump()`: over HTTP/2 it ends the stream with RST_STREAM, and a Node
 * server's rapid-reset guard then refuses the session's next streams (ENHANCE_YOUR_CALM).
 */
async function drain(body: AsyncIterable<unknown>): Promise<void> {
  for await (const _chunk of body);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'serve') {
  await serveH2Echo();
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: TWO_LOAD_OPTIONS,
  });
  const opts = { durationMs: Number(values.duration), rounds: Number(values.rounds), concurrency: Number(values.concurrency), largeConcurrency: Number(values['large-concurrency']) };
  console.log(`hyphae h2-client bench: ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, Node ${process.version}, load average ${loadAverage()}`);
  console.log(`${opts.rounds} interleaved rounds of ${opts.durationMs} ms, median round`);
  const { small, large } = await h2Client(opts);
  printRatioTable(`Small answers (29 B), ${opts.concurrency} in flight`, small);
  printRatioTable(`Large answers (1 MiB), ${opts.largeConcurrency} in flight`, large);
  console.log(`\nload average after: ${loadAverage()}`);
  process.exit(0);
}
