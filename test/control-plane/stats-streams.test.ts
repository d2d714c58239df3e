/**
 * The live stats streams (GET /v1/stats/stream) of a real control plane (a
 * child process) whose stats store holds tens of thousands of entries from
 * two hundred instances that go on reporting:
 *
 * - a viewer token that opens 60 streams with 60 different windows gets 8
 *   (the per-token cap), the rest 429 HYPHAE_ERR_TOO_MANY_STREAMS; the windows
 *   are served as 10, 30 or 60 s, streams on the same window are sent the same
 *   summaries byte for byte, and /v1/health keeps answering fast meanwhile;
 * - a revoked viewer token's stream ends at once, one whose token expires at
 *   the next push, and the token cannot open another (401);
 * - both caps are flags, and past the global one another token is refused too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiErrorBody, TokenResponse } from '../../src/config/wire.js';
import type { MeshSummary } from '../../src/control-plane/stats/summary.js';
import { call, percentile, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { run } from '../helpers/pki.js';
import { SseClient } from '../helpers/sse-client.js';

const REPORTERS = 200;
const EDGES_EACH = 100;
const SERVICES = 20;
const LATENCY = [[20, 10]];

/** Instances of SERVICES services registered, one per reporter, and a report of one as its process would send it. */
class Reporters {
  readonly #cp: RunningControlPlane;
  readonly #instances: string[] = [];
  posted = 0;
  /** Reports refused or lost (the steady ones: what an overloaded control plane does to them is not this test's subject). */
  failed = 0;

  constructor(cp: RunningControlPlane) {
    this.#cp = cp;
  }

  async register(): Promise<void> {
    for (let i = 0; i < REPORTERS; i++) {
      const reg = await call<{ instance: { id: string } }>(this.#cp.url, 'POST', '/v1/instances', { service: `svc-${i % SERVICES}`, address: '127.0.0.1', port: 20_000 + i, ttlSeconds: 300 });
      assert.equal(reg.status, 201, reg.text);
      this.#instances.push(reg.body.instance.id);
    }
  }

  async report(i: number, check = true): Promise<void> {
    const res = await call(this.#cp.url, 'POST', '/v1/stats', this.#report(i)).catch((err: Error) => ({ status: 0, text: err.message }));
    if (check) assert.equal(res.status, 204, res.text);
    if (res.status === 204) this.posted++;
    else this.failed++;
  }

  #report(i: number): unknown {
    return {
      reporter: `stats-reporter-${i}`,
      service: `svc-${i % SERVICES}`,
      instances: [this.#instances[i]],
      intervalMs: 2000,
      edges: Array.from({ length: EDGES_EACH }, (_, e) => ({ destination: `dst-${e}`, requests: 10, errors: e % 10 === 0 ? 1 : 0, latency: LATENCY })),
      inbound: { requests: 10, errors: 0, latency: LATENCY },
    };
  }

  /** Every reporter `rounds` times, `concurrency` reports in flight. */
  async fill(rounds: number, concurrency: number): Promise<void> {
    let next = 0;
    const total = rounds * REPORTERS;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let n = next++; n < total; n = next++) await this.report(n % REPORTERS);
      }),
    );
  }

  /** Reports in turn, two at a time, as live instances would, until `stop` resolves (at most 20 000 reports). */
  async steady(stop: Promise<unknown>): Promise<void> {
    let stopped = false;
    void stop.then(() => (stopped = true));
    let next = 0;
    await Promise.all(
      Array.from({ length: 2 }, async () => {
        while (!stopped && next < 20_000) await this.report(next++ % REPORTERS, false);
      }),
    );
  }
}

/**
 * GET /v1/health with curl, as a probe would: another process, so that the figure is the control plane's and not
 * this one's (which reads the streams). `time_total` includes the TLS handshake, which waits for the event loop too.
 */
async function probeHealth(cp: RunningControlPlane): Promise<{ ms: number; status: string }> {
  const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', '--max-time', '20', '--cacert', cp.caFile!, `${cp.url}/v1/health`], { timeoutMs: 25_000 });
  const [status, total] = r.stdout.split(' ');
  return { ms: Number(total) * 1000, status: r.code === 0 ? status! : `curl exit ${r.code}: ${r.stderr.trim()}` };
}

async function viewerToken(cp: RunningControlPlane, ttlSeconds?: number): Promise<TokenResponse> {
  const res = await call<TokenResponse>(cp.url, 'POST', '/v1/tokens', { kind: 'viewer', ...(ttlSeconds ? { ttlSeconds } : {}) });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

function openStats(cp: RunningControlPlane, token: string, window?: number): Promise<SseClient> {
  return SseClient.open(cp.url, `/v1/stats/stream${window === undefined ? '' : `?window=${window}`}`, { ca: cp.ca, token });
}

/** A stream once the control plane has seen streams close (a client's close reaches it a moment later): 429 until then, at most 5 s. */
async function openOnceFreed(cp: RunningControlPlane, token: string, window?: number): Promise<SseClient> {
  const deadline = performance.now() + 5_000;
  for (;;) {
    const s = await openStats(cp, token, window);
    if (s.status !== 429 || performance.now() > deadline) return s;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const summaries = (s: SseClient) => s.data<MeshSummary>('summary');

describe('stats streams on a control plane whose stats store is filled', () => {
  let cp: RunningControlPlane;
  let reporters: Reporters;

  before(async () => {
    // The caps at their defaults: 8 streams per token, 256 in all.
    cp = await startControlPlane();
    reporters = new Reporters(cp);
    const t0 = performance.now();
    await reporters.register();
    await reporters.fill(3, 8);
    console.log(`stats store filled with ${reporters.posted * (EDGES_EACH + 1)} entries from ${REPORTERS} reporters in ${(performance.now() - t0).toFixed(0)} ms`);
  });

  after(async () => {
    await cp?.stop();
  });

  it('60 streams with distinct windows from one viewer token: 8 served on the 3 kept windows, the rest 429; same window, same bytes; /v1/health stays fast', async () => {
    const viewer = await viewerToken(cp);
    // 1..60, the three windows they round to taken in turn, so that the streams served cover all three.
    const byServed = [Array.from({ length: 10 }, (_, i) => 1 + i), Array.from({ length: 20 }, (_, i) => 11 + i), Array.from({ length: 30 }, (_, i) => 31 + i)];
    const windows: number[] = [];
    for (let i = 0; windows.length < 60; i++) for (const list of byServed) if (i < list.length) windows.push(list[i]!);
    // The instances go on reporting (the windows keep their traffic) until /v1/health has been measured.
    let measured!: () => void;
    const reporting = reporters.steady(new Promise<void>((resolve) => (measured = resolve)));
    const t0 = performance.now();
    // One on each kept window first, then the other 57 at once, as an attacker would (each waits 30 s at most for its
    // answer: a control plane busy building summaries is slow to answer).
    const open = async (window: number) => ({ window, s: await openStats(cp, viewer.token, window).catch((err: Error) => err.message) });
    const attempts = [];
    for (const window of windows.slice(0, 3)) attempts.push(await open(window));
    attempts.push(...(await Promise.all(windows.slice(3).map(open))));
    const openMs = performance.now() - t0;
    const failed = attempts.filter((x) => typeof x.s === 'string').map((x) => `window ${x.window}: ${x.s as string}`);
    const streams = attempts.filter((x): x is { window: number; s: SseClient } => typeof x.s !== 'string');
    const served = streams.filter((x) => x.s.status === 200);
    const refused = streams.filter((x) => x.s.status !== 200);

    // /v1/health while the served streams are pushed to: until each has had three more summaries, and for 20 probes at
    // least (bounded in count and time).
    const health: number[] = [];
    const unhealthy: string[] = [];
    const seen = new Map(served.map((x) => [x.s, x.s.count('summary')]));
    const pushing = () => served.some((x) => x.s.count('summary') < seen.get(x.s)! + 3);
    const deadline = performance.now() + 30_000;
    while ((pushing() || health.length < 20) && performance.now() < deadline && health.length < 500) {
      const probe = await probeHealth(cp);
      health.push(probe.ms);
      if (probe.status !== '200') unhealthy.push(probe.status);
    }
    measured();
    await reporting;
    console.log(
      `asked for ${windows.length} streams in ${openMs.toFixed(0)} ms: ${served.length} served, ${refused.length} refused, ${failed.length} failed; ${reporters.posted} reports posted in all (${reporters.failed} refused); ` +
        `/v1/health over ${health.length} probes (curl): p50 ${percentile(health, 50).toFixed(1)} ms, p90 ${percentile(health, 90).toFixed(1)} ms, p99 ${percentile(health, 99).toFixed(1)} ms, max ${Math.max(...health).toFixed(1)} ms`,
    );

    assert.equal(served.length, 8, `one viewer token is served 8 streams, got ${served.length}`);
    assert.deepEqual(failed, [], 'every stream is answered');
    assert.deepEqual(unhealthy, [], '/v1/health answers 200 throughout');
    for (const { s } of refused) {
      assert.equal(s.status, 429);
      assert.equal(s.error?.error.code, 'HYPHAE_ERR_TOO_MANY_STREAMS');
      assert.match(s.error!.error.message, new RegExp(`viewer\\(${viewer.id}\\) already has 8 stats streams open.*--max-stats-streams-per-token 8`));
    }
    await cp.child.waitFor(/stats: refused 1 stream\(s\) since the last line \(latest: viewer\(vt_[0-9a-f]{16}\) already has 8 stats streams open/, 5_000);
    // Generous ceilings for a busy machine (this one may be descheduled for a while between two calls): the
    // summaries used to stall the event loop for seconds at a time, and every call behind them.
    // Ceilings against a stall, not the expected figures (p90 ~0.1-0.25 s even at load 15-20 on 2 cores): 61287db
    // answered p50 13 s here. The figures measured are printed above.
    assert.ok(percentile(health, 90) < 3_000, `/v1/health p90 ${percentile(health, 90).toFixed(0)} ms with a full stats store and 8 streams`);
    assert.ok(Math.max(...health) < 10_000, `/v1/health took up to ${Math.max(...health).toFixed(0)} ms with a full stats store and 8 streams`);

    // Each window is served as the smallest kept one covering it, with the reporters' figures.
    const kept = (w: number) => (w <= 10 ? 10 : w <= 30 ? 30 : 60);
    for (const { window, s } of served) {
      const last = summaries(s).at(-1)!;
      assert.equal(last.windowSeconds, kept(window), `window=${window}`);
      assert.equal(last.controlPlane.instances, REPORTERS);
      assert.ok(last.edges.length > 0 && last.edges.length <= SERVICES * EDGES_EACH, `${last.edges.length} edges over ${last.windowSeconds} s`);
      if (last.windowSeconds === 60) assert.equal(last.edges.length, SERVICES * EDGES_EACH, 'every edge over 60 s');
    }
    assert.deepEqual(
      [...new Set(served.map((x) => kept(x.window)))].sort((a, b) => a - b),
      [10, 30, 60],
    );
    // Streams on one window are written the same summary, built and serialised once per push (8 streams on 3
    // windows: at least one window has three).
    let compared = 0;
    for (const w of [10, 30, 60]) {
      const group = served.filter((x) => kept(x.window) === w).map((x) => x.s);
      if (group.length < 2) continue;
      compared++;
      const texts = group.map((s) => new Map(s.events.filter((e) => e.event === 'summary').map((e) => [(JSON.parse(e.raw) as MeshSummary).generatedAt, e.raw])));
      const common = [...texts[0]!.keys()].filter((at) => texts.every((t) => t.has(at)));
      assert.ok(common.length >= 1, `the ${group.length} streams on ${w} s were pushed a summary in common`);
      for (const at of common) for (const t of texts) assert.equal(t.get(at), texts[0]!.get(at), `the summary of ${at} on ${w} s, stream by stream`);
    }
    assert.ok(compared >= 1);

    // Closed streams count no more: the first token is served again.
    await Promise.all(streams.map((x) => x.s.close()));
    const again = await openOnceFreed(cp, viewer.token, 30);
    assert.equal(again.status, 200, JSON.stringify(again.error));
    await again.until(() => again.count('summary') >= 1, 10_000, 'a summary on the reopened stream');
    await again.close();
  });

  it("a revoked viewer token's stream ends at once and the token is refused after; an expired one's at the next push", async () => {
    const revoked = await viewerToken(cp);
    const kept = await viewerToken(cp);
    const s = await openStats(cp, revoked.token);
    const k = await openStats(cp, kept.token);
    assert.equal(s.status, 200);
    assert.equal(k.status, 200);
    await s.until(() => s.count('summary') >= 1, 10_000, 'a first summary');

    const t0 = performance.now();
    const res = await call(cp.url, 'DELETE', `/v1/tokens/${revoked.id}`);
    assert.equal(res.status, 200, res.text);
    const eventsAtRevocation = s.events.length;
    await Promise.race([
      s.ended,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`the revoked token's stats stream is still open 3 s after the revocation (${s.events.length - eventsAtRevocation} summaries since)`)), 3_000),
      ),
    ]);
    const closedAfter = s.endedAt! - t0;
    await cp.child.waitFor(new RegExp(`stats closed 1 stream of revoked token ${revoked.id}`), 5_000);
    // Another token's stream goes on: it is pushed a summary after the revocation.
    const before = k.events.length;
    await k.until(() => k.events.length > before, 10_000, "a summary on the other token's stream after the revocation");
    const reopened = await openStats(cp, revoked.token);
    assert.equal(reopened.status, 401);
    assert.equal((reopened.error as ApiErrorBody).error.code, 'HYPHAE_ERR_UNAUTHENTICATED');

    // A viewer token with a 1 s lifetime: its stream is ended at the first push after it expires.
    const created = performance.now();
    const short = await viewerToken(cp, 1);
    const e = await openStats(cp, short.token);
    assert.equal(e.status, 200);
    await Promise.race([e.ended, new Promise((_, reject) => setTimeout(() => reject(new Error("the expired token's stats stream is still open 5 s after its token was made")), 5_000))]);
    const expiredAfter = e.endedAt! - created;
    assert.ok(expiredAfter >= 990, `ended ${expiredAfter.toFixed(0)} ms after its token was made: not before the token expired`);
    assert.equal(k.endedAt, undefined, "the other token's stream is still open");
    await k.close();
    console.log(`revoked viewer token's stats stream ended ${closedAfter.toFixed(0)} ms after the revocation; the expired one's ${expiredAfter.toFixed(0)} ms after its token was made (1 s TTL)`);
  });

  it('a window is served as the smallest kept one (10, 30, 60 s) that covers it; outside 1..60 is a 400 that lists them', async () => {
    for (const [asked, served] of [
      [1, 10],
      [10, 10],
      [20, 30],
      [45, 60],
      [60, 60],
    ] as const) {
      const res = await call<MeshSummary>(cp.url, 'GET', `/v1/stats/summary?window=${asked}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.windowSeconds, served, `window=${asked}`);
    }
    const res = await call<ApiErrorBody>(cp.url, 'GET', '/v1/stats/summary?window=61');
    assert.equal(res.status, 400);
    assert.match(res.body.error.message, /from 1 to 60; summaries are kept for windows of 10, 30, 60 s/);
  });
});

it('the caps are flags: --max-stats-streams-per-token, and --max-stats-streams across tokens', async () => {
  const cp = await startControlPlane({ args: ['--max-stats-streams-per-token', '2', '--max-stats-streams', '3'] });
  const opened: SseClient[] = [];
  try {
    const [a, b] = [await viewerToken(cp), await viewerToken(cp)];
    for (const token of [a.token, a.token, a.token, b.token, b.token]) opened.push(await openStats(cp, token, 10));
    assert.deepEqual(
      opened.map((s) => s.status),
      [200, 200, 429, 200, 429],
    );
    assert.match(opened[2]!.error!.error.message, new RegExp(`viewer\\(${a.id}\\) already has 2 stats streams open.*--max-stats-streams-per-token 2`));
    assert.match(opened[4]!.error!.error.message, /the control plane already serves 3 stats streams.*--max-stats-streams 3/);
    for (const s of [opened[2]!, opened[4]!]) assert.equal(s.error!.error.code, 'HYPHAE_ERR_TOO_MANY_STREAMS');
    // A closed stream frees its place, for the admin token too.
    await opened[0]!.close();
    const admin = await openOnceFreed(cp, cp.adminToken!);
    opened.push(admin);
    assert.equal(admin.status, 200);
    await admin.until(() => admin.count('summary') >= 1, 10_000, "a summary on the admin's stream");
  } finally {
    await Promise.all(opened.map((s) => s.close()));
    await cp.stop();
  }
});
