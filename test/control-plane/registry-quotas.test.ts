/**
 * Issue 13, defect 5: registration quotas, against real control-plane
 * processes: one on the file store (the memory registry), and two replicas on
 * a real etcd (the etcd registry), where the quotas must hold across replicas.
 *
 * - instances per join token (set low by flag): the N+1th answers 429
 *   HYPHAE_ERR_QUOTA_EXCEEDED; re-registering an instance the token has is not
 *   counted twice; a deregistration and an expiry each free a slot; the admin
 *   token is not counted per token;
 * - instances per service, whoever registers them (admin included);
 * - a burst of concurrent registrations through both replicas registers
 *   exactly the quota;
 * - the default per-token quota (1,000), with 64 labels of the largest size
 *   on each instance; the control plane's memory is printed for the notes.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { RegisterRequest, RegisterResponse } from '../../src/config/instance.js';
import type { ApiErrorBody } from '../../src/config/wire.js';
import { call, deregister, register, startControlPlane, Watcher, type ApiResponse, type RunningControlPlane } from '../helpers/control-plane.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { replicaSecrets, startReplicas, type ReplicaSecrets } from '../helpers/replicas.js';
import { waitUntil } from '../helpers/services.js';

const TOKEN_QUOTA = 4;
const SERVICE_CAP = 6;
const FLAGS = ['--max-instances-per-token', String(TOKEN_QUOTA), '--max-instances-per-service', String(SERVICE_CAP), '--ttl', '60'];

const inst = (service: string, port: number, extra: Partial<RegisterRequest> = {}): RegisterRequest => ({ service, address: '127.0.0.1', port, ...extra });

function code(res: ApiResponse): string {
  return `${res.status} ${(res.body as ApiErrorBody | undefined)?.error?.code ?? ''}`.trim();
}

const post = (url: string, req: RegisterRequest, token?: string) => call<RegisterResponse & ApiErrorBody>(url, 'POST', '/v1/instances', req, { token });

async function instanceCount(url: string, service: string): Promise<number> {
  const res = await call<{ instances: unknown[] }>(url, 'GET', `/v1/instances?service=${service}`);
  assert.equal(res.status, 200, res.text);
  return res.body.instances.length;
}

/** A join token made through the first control plane, once every replica accepts it (each hears of it from etcd). */
async function tokenFor(cps: RunningControlPlane[], service: string): Promise<string> {
  const token = await cps[0]!.joinToken(service);
  for (const cp of cps) await waitUntil(async () => (await call(cp.url, 'GET', '/v1/services', undefined, { token })).status === 200, 5_000);
  return token;
}

/** The same story through one control plane, or alternating between replicas (request i goes to replica i mod n). */
async function quotaStory(cps: RunningControlPlane[]): Promise<void> {
  const at = (i: number) => cps[i % cps.length]!.url;
  const tokenA = await tokenFor(cps, 'api');
  const tokenB = await tokenFor(cps, 'api');

  const leases: RegisterResponse[] = [];
  for (let i = 0; i < TOKEN_QUOTA; i++) leases.push(await register(at(i), inst('api', 5000 + i), tokenA));
  const over = await post(at(TOKEN_QUOTA), inst('api', 5000 + TOKEN_QUOTA), tokenA);
  assert.equal(code(over), '429 HYPHAE_ERR_QUOTA_EXCEEDED', over.text);
  assert.match(over.body.error.message, new RegExp(`join token jt_[0-9a-f]+ already has ${TOKEN_QUOTA} live instances.*--max-instances-per-token ${TOKEN_QUOTA}`));

  // Re-registering an instance the token already has replaces it: not counted twice, accepted at the quota.
  const again = await post(at(1), inst('api', 5000, { labels: { version: 'v2' } }), tokenA);
  assert.equal(again.status, 201, again.text);

  // A deregistration frees its slot at once, through any replica.
  assert.equal(await deregister(at(2), leases[1]!.leaseId, tokenA), 204);
  const freed = await post(at(3), inst('api', 5000 + TOKEN_QUOTA), tokenA);
  assert.equal(freed.status, 201, freed.text);

  // The per-service cap counts every token's instances, and the admin token's.
  assert.equal((await post(at(0), inst('api', 5100), tokenB)).status, 201);
  assert.equal((await post(at(1), inst('api', 5101), tokenB)).status, 201);
  const full = await post(at(0), inst('api', 5102), tokenB);
  assert.equal(code(full), '429 HYPHAE_ERR_QUOTA_EXCEEDED', full.text);
  assert.match(full.body.error.message, new RegExp(`service default/api already has ${SERVICE_CAP} live instances.*--max-instances-per-service ${SERVICE_CAP}`));
  assert.equal(code(await post(at(1), inst('api', 5103))), '429 HYPHAE_ERR_QUOTA_EXCEEDED', 'the admin token is under the per-service cap too');
  for (const cp of cps) await waitUntil(async () => (await instanceCount(cp.url, 'api')) === SERVICE_CAP, 5_000);

  // The admin token is not counted per token: more than TOKEN_QUOTA instances of another service.
  for (let i = 0; i <= TOKEN_QUOTA; i++) assert.equal((await post(at(i), inst('web', 5200 + i))).status, 201);

  // An expiry frees a slot too: one of the token's instances has a 1 s lease.
  const tokenC = await tokenFor(cps, 'exp');
  const watcher = await Watcher.open(at(1), ['exp']);
  try {
    const short = await register(at(0), inst('exp', 5300, { ttlSeconds: 1 }), tokenC);
    for (let i = 1; i < TOKEN_QUOTA; i++) await register(at(i), inst('exp', 5300 + i), tokenC);
    assert.equal(code(await post(at(0), inst('exp', 5310), tokenC)), '429 HYPHAE_ERR_QUOTA_EXCEEDED');
    await watcher.waitForService('exp', (s) => s.instances.length === TOKEN_QUOTA - 1 && !s.instances.some((x) => x.port === 5300), 15_000);
    const afterExpiry = await post(at(0), inst('exp', 5310), tokenC);
    assert.equal(afterExpiry.status, 201, `after ${short.leaseId.slice(0, 6)} expired: ${afterExpiry.text}`);
  } finally {
    await watcher.close();
  }
}

/** 3 x the quota at once, spread over the control planes: exactly the quota is registered, the rest is 429. */
async function burst(cps: RunningControlPlane[], service: string): Promise<void> {
  const token = await tokenFor(cps, service);
  const answers = await Promise.all(Array.from({ length: 3 * TOKEN_QUOTA }, (_, i) => post(cps[i % cps.length]!.url, inst(service, 6000 + i), token)));
  const tally = answers.map(code).sort();
  assert.deepEqual(tally, [...Array(TOKEN_QUOTA).fill('201'), ...Array(2 * TOKEN_QUOTA).fill('429 HYPHAE_ERR_QUOTA_EXCEEDED')], tally.join(', '));
  for (const cp of cps) await waitUntil(async () => (await instanceCount(cp.url, service)) === TOKEN_QUOTA, 5_000);
}

describe('registration quotas, memory registry (file store)', () => {
  let cp: RunningControlPlane;
  before(async () => {
    cp = await startControlPlane({ args: FLAGS });
  });
  after(() => cp?.stop());

  it('per token and per service: 429 at N+1, re-registration not counted twice, deregistration and expiry free a slot', async () => {
    await quotaStory([cp]);
  });

  it('a burst of concurrent registrations registers exactly the quota', async () => {
    await burst([cp], 'burst');
  });
});

describe('registration quotas, etcd registry (two replicas)', () => {
  let etcd: EtcdCluster;
  let secrets: ReplicaSecrets;
  let replicas: RunningControlPlane[] = [];
  before(async () => {
    etcd = await startEtcdCluster(1);
    secrets = await replicaSecrets();
    replicas = await startReplicas(etcd, secrets, 2, { args: FLAGS });
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await etcd?.stop();
    await secrets?.remove();
  });

  it('the same quotas hold across replicas', async () => {
    await quotaStory(replicas);
  });

  it('a burst through both replicas at once registers exactly the quota', async () => {
    await burst(replicas, 'burst');
  });
});

describe('the default per-token quota', () => {
  let cp: RunningControlPlane;
  before(async () => {
    cp = await startControlPlane({ ttlSeconds: 300 });
  });
  after(() => cp?.stop());

  it('1,000 instances with 64 labels of the largest size each, then 429', async () => {
    const token = await cp.joinToken('big');
    const prefix = `${'p'.repeat(61)}.${'q'.repeat(63)}.${'r'.repeat(63)}.${'s'.repeat(63)}`; // 253 characters
    const labels: Record<string, string> = {};
    for (let i = 0; i < 64; i++) labels[`${prefix}/${String(i).padStart(2, '0')}${'n'.repeat(61)}`] = 'v'.repeat(63);
    const rss = async () => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${cp.child.proc.pid}/status`, 'utf8'))![1]) / 1024;
    const before = await rss();
    const started = performance.now();
    let next = 0;
    // 8 at a time: a bounded loop (1,000 requests), as fast as the control plane answers.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < 1_000) {
          const port = 10_000 + next++;
          await register(cp.url, { service: 'big', address: '127.0.0.1', port, labels }, token);
        }
      }),
    );
    const tookMs = performance.now() - started;
    const over = await post(cp.url, { service: 'big', address: '127.0.0.1', port: 11_000, labels }, token);
    assert.equal(code(over), '429 HYPHAE_ERR_QUOTA_EXCEEDED', over.text.slice(0, 300));
    assert.match(over.body.error.message, /already has 1000 live instances.*--max-instances-per-token 1000/);
    const listing = await call(cp.url, 'GET', '/v1/instances?service=big');
    assert.equal((listing.body as { instances: unknown[] }).instances.length, 1_000);
    const afterRss = await rss();
    console.log(
      `1,000 instances x 64 labels (317-char keys, 63-char values) in ${(tookMs / 1000).toFixed(1)} s: control plane RSS ${before.toFixed(0)} MB -> ` +
        `${afterRss.toFixed(0)} MB; GET /v1/instances?service=big is ${(listing.text.length / 1e6).toFixed(1)} MB`,
    );
  });
});
