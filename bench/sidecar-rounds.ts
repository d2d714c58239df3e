/**
 * The throughput half of the per-process cost bench (bench/sidecar.ts): every
 * client row against the same server process, in interleaved rounds (undici,
 * hyphae, sidecar, undici over TLS, hyphae mTLS, sidecar mTLS; the order
 * reversed every other round, so that drift on a shared machine hits them
 * alike). Besides the client's latency and throughput, each round reads the
 * CPU time of every process on the request's path from /proc — the client
 * (this process), the server and, for a sidecar row, both nginx — since a
 * sidecar's cost is mostly CPU spent outside the application's process.
 */
import { median, runLoad } from './lib/load.js';
import { sample } from './lib/proc-stats.js';

export type Variant = 'plain' | 'mtls';
export type Kind = 'undici' | 'hyphae' | 'sidecar';

export interface CostTarget {
  name: string;
  variant: Variant;
  kind: Kind;
  send: () => Promise<void>;
  /** CPU seconds used so far by the proxies on this row's path (the sidecar pair). */
  proxyCpuSeconds?: () => number;
  /** Connections opened so far on every hop of this row's path (read between rounds). */
  connections: () => Promise<number>;
}

export interface CostRound {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** CPU per request, µs: this process (the client), the server process, the proxies. */
  clientUs: number;
  serverUs: number;
  proxyUs: number;
  /** Connections opened on the row's hops during the round: 0 when every hop keeps its connections alive. */
  connections: number;
  requests: number;
}

export interface CostRow {
  name: string;
  variant: Variant;
  kind: Kind;
  /** Medians over the rounds of each figure; errors summed. */
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  clientCpuUs: number;
  serverCpuUs: number;
  proxyCpuUs: number;
  /** Median over rounds of the three together. */
  totalCpuUs: number;
  /** Connections opened on the row's hops per 10,000 requests over all measured rounds (warm-up excluded). */
  connectionsPer10k: number;
  /** Every round in order: their spread is the measurement's own noise, and ratios are taken per round. */
  rounds: CostRound[];
}

export async function costRounds(
  targets: readonly CostTarget[],
  serverPid: number,
  { concurrency, durationMs, rounds }: { concurrency: number; durationMs: number; rounds: number },
): Promise<CostRow[]> {
  const run = async (t: CostTarget, ms: number): Promise<CostRound> => {
    const conns0 = await t.connections();
    const server0 = sample(serverPid).cpuSeconds;
    const proxy0 = t.proxyCpuSeconds?.() ?? 0;
    const res = await runLoad(t.send, { concurrency, durationMs: ms });
    const perRequest = (seconds: number) => (res.requests === 0 ? NaN : (seconds * 1e6) / res.requests);
    const serverUs = perRequest(sample(serverPid).cpuSeconds - server0);
    const proxyUs = perRequest((t.proxyCpuSeconds?.() ?? 0) - proxy0);
    return {
      rps: res.rps,
      p50ms: res.p50ms,
      p99ms: res.p99ms,
      errors: res.errors,
      clientUs: res.cpuUsPerRequest,
      serverUs,
      proxyUs,
      connections: (await t.connections()) - conns0,
      requests: res.requests,
    };
  };
  // Warm-up: connections on every hop, JIT on every path, the meshes' first discovery answer.
  for (const t of targets) await run(t, Math.min(1_000, durationMs));
  const results = new Map<string, CostRound[]>(targets.map((t) => [t.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const t of r % 2 ? [...targets].reverse() : targets) {
      const res = await run(t, durationMs);
      results.get(t.name)!.push(res);
      process.stderr.write(
        `  round ${r + 1}/${rounds} ${t.name.padEnd(30)} ${res.rps.toFixed(0).padStart(6)} req/s  p99 ${res.p99ms.toFixed(2)} ms  cpu/req client ${res.clientUs.toFixed(1)} µs, server ${res.serverUs.toFixed(1)}, proxies ${res.proxyUs.toFixed(1)}; ${res.connections} new connections${res.errors ? `  ${res.errors} errors` : ''}\n`,
      );
    }
  }
  return targets.map((t) => {
    const rs = results.get(t.name)!;
    return {
      name: t.name,
      variant: t.variant,
      kind: t.kind,
      rps: median(rs.map((x) => x.rps)),
      p50ms: median(rs.map((x) => x.p50ms)),
      p99ms: median(rs.map((x) => x.p99ms)),
      errors: rs.reduce((s, x) => s + x.errors, 0),
      clientCpuUs: median(rs.map((x) => x.clientUs)),
      serverCpuUs: median(rs.map((x) => x.serverUs)),
      proxyCpuUs: median(rs.map((x) => x.proxyUs)),
      totalCpuUs: median(rs.map((x) => x.clientUs + x.serverUs + x.proxyUs)),
      connectionsPer10k:
        (rs.reduce((s, x) => s + x.connections, 0) /
          Math.max(
            1,
            rs.reduce((s, x) => s + x.requests, 0),
          )) *
        10_000,
      rounds: rs,
    };
  });
}
