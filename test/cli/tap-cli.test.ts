/**
 * `hyphae tap` end to end: a control plane child, two instances of the example `api` service (children,
 * built with the library), a `web` client mesh calling them over mTLS, and `hyphae tap` as a child.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createMesh, type Mesh } from '../../src/index.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { cliPath, startNode, type Child } from '../helpers/process.js';
import { startApi, waitUntil, type RunningService } from '../helpers/services.js';
import { steadyTraffic, type Traffic } from '../helpers/traffic.js';

const exec = promisify(execFile);

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { timeout: 90_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface JsonSample {
  id: number;
  src: string | null;
  dst: string;
  method: string;
  path: string;
  status: number;
  latencyMs: number;
}

/** Taps the control plane has closed because their reader left (its log lines). */
function readersLeft(cp: RunningControlPlane): number {
  return cp.child.lines.filter((l) => /tap close id=\S+ service=default\/api samples=\d+ \(reader left\)/.test(l)).length;
}

function samples(child: Child): JsonSample[] {
  return child.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonSample);
}

/** `hyphae_control_plane_http_requests_total` summed over the samples route's codes: what the instances posted. */
async function samplePosts(cp: RunningControlPlane): Promise<number> {
  const res = await call(cp.url, 'GET', '/metrics');
  let n = 0;
  for (const line of res.text.split('\n')) {
    if (line.startsWith('hyphae_control_plane_http_requests_total{') && line.includes('route="/v1/tap/:tapId"')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

describe('hyphae tap', { timeout: 300_000 }, () => {
  let cp: RunningControlPlane;
  let apis: RunningService[];
  let web: Mesh;
  let traffic: Traffic;

  before(async () => {
    cp = await startControlPlane();
    apis = await Promise.all([startApi(cp, 'v1'), startApi(cp, 'v2')]);
    web = await createMesh(await cp.meshOptions('web'));
    // A query that must never reach the tap's output: it may carry data.
    traffic = steadyTraffic(web, 'http://api/items?secret=s3cr3t', 3, 2);
    await waitUntil(() => traffic.ok > 20, 60_000);
  });

  after(async () => {
    await traffic?.stop();
    await web?.close();
    await Promise.all((apis ?? []).map((a) => a.child.kill()));
    await cp?.stop();
  });

  it('shows requests from both instances: method, normalized path without the query, status, latency, verified caller', async () => {
    const tap = startNode(cliPath, ['tap', 'api', '-o', 'json', '--max-rps', '200', '--duration', '60s', ...cp.cliFlags]);
    try {
      const ids = apis.map((a) => a.id);
      await waitUntil(() => ids.every((id) => samples(tap).some((s) => s.dst === id)), 60_000);
      const seen = samples(tap);
      for (const s of seen.slice(0, 20)) {
        assert.equal(s.method, 'GET');
        assert.equal(s.path, '/items');
        assert.equal(s.status, 200);
        assert.ok(s.latencyMs >= 0 && s.latencyMs < 60_000, `latency ${s.latencyMs}`);
        assert.match(s.src ?? '', /^spiffe:\/\/[^/]+\/ns\/default\/sa\/web$/);
        assert.ok(ids.includes(s.dst), s.dst);
      }
      assert.ok(!tap.lines.some((l) => l.includes('s3cr3t')), 'the query never leaves the instance');
      assert.match(tap.lines.join('\n'), /tapping default\/api: at most 200 requests\/s/);
    } finally {
      assert.equal(await tap.kill('SIGINT'), 0, 'Ctrl-C ends the tap with exit 0');
    }
  });

  it('prints one linkerd-like line per request without -o json', async () => {
    const tap = startNode(cliPath, ['tap', 'api', '--max-rps', '50', '--duration', '60s', ...cp.cliFlags]);
    try {
      const m = await tap.waitFor(/^req id=1 src=(\S+) dst=(\S+) :method=GET :path=\/items status=200 latency=[\d.]+ms$/, 60_000);
      assert.match(m[1]!, /\/sa\/web$/);
      assert.ok(apis.some((a) => a.id === m[2]));
    } finally {
      await tap.kill('SIGINT');
    }
  });

  it('holds the rate cap: over a bounded window the count stays under max-rps x seconds (plus one second of burst)', async () => {
    // The traffic runs far above 3 requests/s; the tap ends by itself after 3 s.
    const r = await run(['tap', 'api', '-o', 'json', '--max-rps', '3', '--duration', '3s', ...cp.cliFlags]);
    assert.equal(r.code, 0, r.stderr);
    const n = r.stdout.split('\n').filter((l) => l.startsWith('{')).length;
    // The control plane ends a tap on its one-second tick, so the window is at most 4 s: 3 of burst + 3 x 4.
    assert.ok(n >= 1 && n <= 15, `${n} samples for --max-rps 3 over 3 s`);
    assert.match(r.stderr, /dropped \d+ requests over the rate cap/);
    assert.match(r.stderr, /tap ended: duration reached/);
  });

  it('refuses a viewer token, an unknown service, and bad flags', async () => {
    const viewer = await call<{ token: string }>(cp.url, 'POST', '/v1/tokens', { kind: 'viewer' });
    const file = path.join(cp.dataDir, 'viewer-token');
    await writeFile(file, viewer.body.token, { mode: 0o600 });
    const flags = cp.cliFlags.map((f, i) => (cp.cliFlags[i - 1] === '--token-file' ? file : f));
    const r = await run(['tap', 'api', ...flags]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HYPHAE_ERR_FORBIDDEN/);

    const unknown = await run(['tap', 'nosuch', ...cp.cliFlags]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /HYPHAE_ERR_SERVICE_NOT_FOUND/);

    for (const [args, message] of [
      [['tap'], /name the service/],
      [['tap', 'api', '--max-rps', '0'], /--max-rps must be an integer from 1 to 1000/],
      [['tap', 'api', '--duration', '2h'], /--duration must be a duration/],
      [['tap', 'api', '--method', 'get'], /--method must be an upper-case/],
      [['tap', 'api', '--path-prefix', 'x'], /--path-prefix must start with "\/"/],
      [['tap', 'api', '-o', 'yaml'], /-o must be json/],
    ] as const) {
      const u = await run([...args, ...cp.cliFlags]);
      assert.equal(u.code, 2, args.join(' '));
      assert.match(u.stderr, message, args.join(' '));
    }
  });

  it('a reader that goes away (`| head -1`) ends the tap quietly with 0, and the control plane closes it', async () => {
    const left = readersLeft(cp);
    const child = spawn(process.execPath, [cliPath, 'tap', 'api', '--duration', '60s', ...cp.cliFlags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // The first line arrives, then the reader is gone, as `head -1` does.
    await once(child.stdout, 'data');
    child.stdout.destroy();
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|at .*\.js:\d+/);
    await waitUntil(() => readersLeft(cp) === left + 1, 30_000);
  });

  it('a connection failure says which flag fixes it', async () => {
    // No --ca-file: the control plane's certificate is signed by its own CA.
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('HYPHAE_')) delete env[k];
    const r = await exec(process.execPath, [cliPath, 'tap', 'api', '--control-plane', cp.url], { env, timeout: 60_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /hint: .*--ca-file/);
  });

  it('filters by method and path prefix at the instances', async () => {
    const r = await run(['tap', 'api', '-o', 'json', '--method', 'POST', '--duration', '2s', ...cp.cliFlags]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '', 'no POST was made: nothing shown');
    const other = await run(['tap', 'api', '-o', 'json', '--path-prefix', '/other', '--duration', '2s', ...cp.cliFlags]);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout.trim(), '');
    assert.doesNotMatch(other.stderr, /dropped/, 'requests the filter does not want are not counted against the cap');
  });

  it('stops at the instances when the CLI goes away', async () => {
    const left = readersLeft(cp);
    const tap = startNode(cliPath, ['tap', 'api', '-o', 'json', '--duration', '60s', ...cp.cliFlags]);
    await waitUntil(() => samples(tap).length >= 5, 60_000);
    assert.equal(await tap.kill('SIGINT'), 0);
    await waitUntil(() => readersLeft(cp) === left + 1, 30_000);
    const atClose = await samplePosts(cp);
    // A window measured in the traffic the instances serve, not in time: 600 more requests, all while tapping was
    // off. Had they kept sampling, they would post every 250 ms; a batch already on its way may still land (one each).
    const ok = traffic.ok;
    await waitUntil(() => traffic.ok >= ok + 600, 60_000);
    const later = await samplePosts(cp);
    assert.ok(later - atClose <= apis.length, `${later - atClose} sample batches posted after the tap closed`);
  });
});

describe('hyphae tap on an --insecure control plane', { timeout: 180_000 }, () => {
  it('taps plaintext instances: no token anywhere, no verified caller (src null)', async () => {
    const cp = await startControlPlane({ insecure: true });
    let api: RunningService | undefined;
    let web: Mesh | undefined;
    let traffic: Traffic | undefined;
    try {
      api = await startApi(cp);
      web = await createMesh(await cp.meshOptions('web'));
      traffic = steadyTraffic(web, 'http://api/plain', 2, 5);
      const tap = startNode(cliPath, ['tap', 'api', '-o', 'json', '--duration', '60s', ...cp.cliFlags]);
      try {
        await waitUntil(() => samples(tap).length >= 3, 60_000);
        const s = samples(tap)[0]!;
        assert.equal(s.src, null);
        assert.equal(s.dst, api.id);
        assert.equal(s.path, '/plain');
      } finally {
        assert.equal(await tap.kill('SIGINT'), 0);
      }
    } finally {
      await traffic?.stop();
      await web?.close();
      await api?.child.kill();
      await cp.stop();
    }
  });
});
