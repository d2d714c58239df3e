/**
 * mTLS overhead: mesh.request over mTLS (on undici, and on the raw HTTP/1.1
 * transport: http1Transport 'raw') against raw undici Pool.request over
 * TLS, to the same server (a mesh service behind wrapServer's mTLS front, in
 * its own process), in one run. Both clients present a certificate of the same
 * identity from the same CA and check the server's SPIFFE ID the same way;
 * the raw pool is what an application would write by hand. Rounds are
 * interleaved as in overhead.ts; handshakes per 10,000 requests (every
 * connection opened, warm-up included) show that connections are reused.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, Pool, request } from 'undici';
import { createMesh } from '../src/index.js';
import { createCsr } from '../src/tls/csr.js';
import { generateKeyPair } from '../src/tls/keys.js';
import { spiffeServerCheck } from './lib/spiffe-server-check.js';
import { buildDir, cliPath, startNode } from '../examples/lib/child.js';
import { runLoad, type LoadResult } from './lib/load.js';
import { medianRow, type OverheadOptions, type Row } from './overhead.js';

export async function mtls({ durationMs, rounds, concurrency }: OverheadOptions): Promise<Row[]> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-'));
  const cp = startNode(cliPath, ['control-plane', '--port', '0', '--data-dir', dataDir]);
  const children = [cp];
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const url = (await cp.waitFor(/listening (https:\/\/\S+)/))[1]!;
    const caFile = path.join(dataDir, 'ca-bundle.pem');
    const ca = await readFile(caFile, 'utf8');
    const admin = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
    const api = new Agent({ connect: { ca } });
    cleanups.push(() => api.close());
    const post = async <T>(p: string, body: unknown, token: string): Promise<T> => {
      const res = await request(`${url}${p}`, {
        method: 'POST',
        dispatcher: api,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.body.json()) as T;
      if (res.statusCode >= 300) throw new Error(`${p} answered ${res.statusCode}: ${JSON.stringify(json)}`);
      return json;
    };
    const token = async (service: string) => (await post<{ token: string }>('/v1/tokens', { service }, admin)).token;

    const server = startNode(path.join(buildDir, 'bench/lib/mtls-echo-server.js'), [], {
      HYPHAE_CONTROL_PLANE: url,
      HYPHAE_SERVICE: 'bench',
      HYPHAE_TOKEN: await token('bench'),
      HYPHAE_CA_FILE: caFile,
    });
    children.push(server);
    const port = Number((await server.waitFor(/listening (\d+)/, 15_000))[1]);

    const clientToken = await token('bench-client');
    const mesh = await createMesh({ controlPlane: url, service: 'bench-client', token: clientToken, caFile });
    cleanups.push(() => mesh.close());
    // The same identity with HTTP/1.1 on the mesh's raw transport (mesh option http1Transport: src/core/http1/pool.ts).
    const rawMesh = await createMesh({ controlPlane: url, service: 'bench-client', token: clientToken, caFile, http1Transport: 'raw' });
    cleanups.push(() => rawMesh.close());

    // The raw client: a certificate of the same identity, obtained the same way, and the same server check.
    const keys = await generateKeyPair();
    const signed = await post<{ certificate: string; trustBundle: { trustDomain: string; roots: string[] } }>(
      '/v1/certificates',
      { csr: createCsr(keys, { trustDomain: 'hyphae.local', namespace: 'default', service: 'bench-client' }) },
      clientToken,
    );
    const expected = `spiffe://${signed.trustBundle.trustDomain}/ns/default/sa/bench`;
    const origin = `https://127.0.0.1:${port}`;
    const pool = new Pool(origin, {
      pipelining: 1,
      connect: {
        key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        cert: signed.certificate,
        ca: signed.trustBundle.roots,
        checkServerIdentity: spiffeServerCheck(signed.trustBundle.trustDomain, expected),
      },
    });
    cleanups.push(() => pool.close());
    let rawHandshakes = 0;
    pool.on('connect', () => rawHandshakes++);

    const targets = [
      {
        name: 'undici Pool.request (TLS)',
        handshakes: () => rawHandshakes,
        send: async () => {
          const r = await pool.request({ origin, path: '/', method: 'GET' });
          await r.body.dump();
        },
      },
      {
        name: 'mesh.request (mTLS)',
        baseline: 'undici Pool.request (TLS)',
        handshakes: () => mesh.identity()!.handshakes,
        send: async () => {
          const r = await mesh.request('http://bench/');
          await r.body.dump();
        },
      },
      {
        name: 'mesh.request (mTLS, raw)',
        baseline: 'undici Pool.request (TLS)',
        handshakes: () => rawMesh.identity()!.handshakes,
        send: async () => {
          const r = await rawMesh.request('http://bench/');
          await r.body.dump();
        },
      },
    ];
    // Handshakes are counted from the very first request, warm-up included: every connection ever opened.
    const counted = new Map<string, { requests: number; handshakes: number }>(targets.map((t) => [t.name, { requests: 0, handshakes: -t.handshakes() }]));
    for (const t of targets) counted.get(t.name)!.requests += (await runLoad(t.send, { concurrency, durationMs: Math.min(1000, durationMs) })).requests;
    const results = new Map<string, LoadResult[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const t of r % 2 ? [...targets].reverse() : targets) {
        const hs = t.handshakes();
        const res = await runLoad(t.send, { concurrency, durationMs });
        results.get(t.name)!.push(res);
        counted.get(t.name)!.requests += res.requests;
        process.stderr.write(`  round ${r + 1}/${rounds} ${t.name.padEnd(28)} ${res.rps.toFixed(0)} req/s, ${t.handshakes() - hs} handshakes\n`);
      }
    }
    return targets.map((t) => {
      const rs = results.get(t.name)!;
      const c = counted.get(t.name)!;
      c.handshakes += t.handshakes();
      return { ...medianRow(t.name, rs, t.baseline), handshakesPer10k: (c.handshakes / Math.max(1, c.requests)) * 10_000 };
    });
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await Promise.all(children.reverse().map((c) => c.kill()));
    await rm(dataDir, { recursive: true, force: true });
  }
}
