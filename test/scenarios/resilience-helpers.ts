/**
 * Shared by the resilience scenarios: services built with the library as child
 * processes (examples/api, examples/chain), an open-loop request stream bounded
 * in count and time, and small figures.
 */
import path from 'node:path';
import type { Mesh } from '../../src/index.js';
import type { RunningControlPlane } from '../helpers/control-plane.js';
import { buildDir, startNode, type Child } from '../helpers/process.js';

export interface ChainService {
  child: Child;
  port: number;
  /** The instance id once registered (address:port). */
  id: string;
}

/**
 * examples/chain as `service`, with the control plane's credentials for it (unless `env` brings its own
 * HYPHAE_CONTROL_PLANE: while the control plane is down no token can be made); waits until it listens
 * (and, by default, is registered).
 */
export async function startChain(cp: RunningControlPlane, service: string, env: NodeJS.ProcessEnv = {}, waitRegistered = true): Promise<ChainService> {
  const credentials = env.HYPHAE_CONTROL_PLANE ? {} : await cp.env(service);
  const child = startNode(path.join(buildDir, 'examples/chain/server.js'), [], { ...credentials, HYPHAE_DRAIN_DELAY_MS: '100', ...env });
  const port = Number((await child.waitFor(/ready service=\S+ port=(\d+)/, 60_000))[1]);
  const id = waitRegistered ? (await child.waitFor(/registered instance=(\S+)/, 60_000))[1]! : `127.0.0.1:${port}`;
  return { child, port, id };
}

export interface Outcome {
  ok: boolean;
  status: number;
  code?: string;
  ms: number;
  body?: string;
}

/**
 * Open loop: `total` requests (fewer if `stopWhen` says so first), one every
 * 1000/rate ms whatever earlier ones do (callers arrive on schedule), each
 * bounded by `timeoutMs`. Resolves when all have ended.
 */
export async function openLoop(
  mesh: Mesh,
  url: string | (() => string),
  opts: { rate: number; total: number; timeoutMs?: number; onSent?: (i: number) => void; stopWhen?: () => boolean },
): Promise<Outcome[]> {
  const out: Outcome[] = [];
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < opts.total && !opts.stopWhen?.(); i++) {
    opts.onSent?.(i);
    inflight.push(
      (async () => {
        const t0 = performance.now();
        try {
          const res = await mesh.request(typeof url === 'string' ? url : url(), { signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000) });
          const body = await res.body.text();
          out.push({ ok: res.statusCode === 200, status: res.statusCode, ms: performance.now() - t0, body });
        } catch (err) {
          out.push({ ok: false, status: 0, code: (err as { code?: string }).code ?? String(err), ms: performance.now() - t0 });
        }
      })(),
    );
    const next = start + ((i + 1) * 1000) / opts.rate;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  await Promise.all(inflight);
  return out;
}

export function summary(outcomes: readonly Outcome[]): { total: number; failed: number; errors: Record<string, number> } {
  const errors: Record<string, number> = {};
  let failed = 0;
  for (const o of outcomes) {
    if (o.ok) continue;
    failed++;
    const k = o.code ?? `status ${o.status}`;
    errors[k] = (errors[k] ?? 0) + 1;
  }
  return { total: outcomes.length, failed, errors };
}

export function pct(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChainStats {
  requests: number;
  inflight: number;
  served: number;
  aborted: number;
}

/** The request counters of an examples/chain process (SIGUSR2 makes it print them). */
export async function chainStats(svc: ChainService): Promise<ChainStats> {
  const from = svc.child.lines.length;
  svc.child.proc.kill('SIGUSR2');
  const started = performance.now();
  for (;;) {
    for (let i = from; i < svc.child.lines.length; i++) {
      const m = /^stats (\{.*\})$/.exec(svc.child.lines[i]!);
      if (m) return JSON.parse(m[1]!) as ChainStats;
    }
    // A ceiling against a stall only (a starved child may take seconds to answer a signal).
    if (performance.now() - started > 30_000) throw new Error(`no stats from ${svc.id}:\n${svc.child.lines.slice(-20).join('\n')}`);
    await sleep(10);
  }
}
