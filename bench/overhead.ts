/**
 * Client overhead: mesh.request against raw undici Pool.request, and
 * mesh.fetch against undici.fetch, on the same loopback server, in one run.
 * Rounds are interleaved (raw, mesh, raw, mesh...) so that drift on a shared
 * machine hits both sides alike; the median round of each is reported.
 */
import path from 'node:path';
import { Agent, Pool, fetch as undiciFetch } from 'undici';
import { createMesh } from '../src/index.js';
import { StaticResolver } from '../src/extend.js';
import { buildDir, startNode } from '../examples/lib/child.js';
import { interleavedRounds, median, type LoadResult } from './lib/load.js';

export interface OverheadOptions {
  durationMs: number;
  rounds: number;
  concurrency: number;
}

export interface Row {
  name: string;
  baseline?: string;
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** Median over rounds of the client process's CPU per request, µs (see LoadResult). */
  cpuUsPerRequest?: number;
  /** New connections (TLS handshakes) per 10,000 requests, where the benchmark counts them. */
  handshakesPer10k?: number;
}

export async function overhead({ durationMs, rounds, concurrency }: OverheadOptions): Promise<Row[]> {
  const server = startNode(path.join(buildDir, 'bench/lib/echo-server.js'));
  const port = Number((await server.waitFor(/listening (\d+)/))[1]);
  const origin = `http://127.0.0.1:${port}`;
  const pool = new Pool(origin, { pipelining: 1 });
  const agent = new Agent({ pipelining: 1 });
  const mesh = await createMesh({ resolver: new StaticResolver({ bench: [{ address: '127.0.0.1', port }] }) });

  const targets: { name: string; baseline?: string; send: () => Promise<void> }[] = [
    {
      name: 'undici Pool.request',
      send: async () => {
        const r = await pool.request({ origin, path: '/', method: 'GET' });
        await r.body.dump();
      },
    },
    {
      name: 'mesh.request',
      baseline: 'undici Pool.request',
      send: async () => {
        const r = await mesh.request('http://bench/');
        await r.body.dump();
      },
    },
    {
      name: 'undici.fetch',
      send: async () => {
        const r = await undiciFetch(`${origin}/`, { dispatcher: agent });
        await r.arrayBuffer();
      },
    },
    {
      name: 'mesh.fetch',
      baseline: 'undici.fetch',
      send: async () => {
        const r = await mesh.fetch('http://bench/');
        await r.arrayBuffer();
      },
    },
  ];

  try {
    // Warm-up (connections, JIT on every path), then interleaved rounds.
    const results = await interleavedRounds(targets, { concurrency, durationMs, rounds });
    return targets.map((t) => medianRow(t.name, results.get(t.name)!, t.baseline));
  } finally {
    await mesh.close();
    await pool.close();
    await agent.close();
    await server.kill();
  }
}

/** A target's row: the median of its rounds for each figure, the errors of all of them. */
export function medianRow(name: string, rs: LoadResult[], baseline?: string): Row {
  const row: Row = {
    name,
    rps: median(rs.map((x) => x.rps)),
    p50ms: median(rs.map((x) => x.p50ms)),
    p99ms: median(rs.map((x) => x.p99ms)),
    errors: rs.reduce((s, x) => s + x.errors, 0),
    cpuUsPerRequest: median(rs.map((x) => x.cpuUsPerRequest)),
  };
  if (baseline) row.baseline = baseline;
  return row;
}
