/**
 * The etcd store and registry in-process, two "replicas" (two backends, each
 * with its own connection, cache and watch) on one real single-member etcd:
 * what one writes, the other hears from its watch.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { ConsecutiveBreaker, ConstantBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';
import { ErrorCode, isMeshError } from '../../src/core/errors.js';
import { registerRequestSchema } from '../../src/config/instance.js';
import { resourceSchema, type Resource } from '../../src/config/resources.js';
import { openEtcdBackend } from '../../src/control-plane/etcd/backend.js';
import { EtcdRegistry } from '../../src/control-plane/etcd/etcd-registry.js';
import { EtcdState } from '../../src/control-plane/etcd/etcd-state.js';
import { EtcdStore } from '../../src/control-plane/etcd/etcd-store.js';
import type { Registry, Store, StoreChange } from '../../src/control-plane/index.js';
import { createControlPlane } from '../../src/control-plane/index.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { freePorts, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { waitUntil } from '../helpers/services.js';

const svc = (name: string, labels?: Record<string, string>): Resource => resourceSchema.parse({ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name, labels }, spec: {} });
const KEY = randomBytes(32).toString('base64');
const reg = (port: number, ttlSeconds?: number) => registerRequestSchema.parse({ service: 'api', address: '127.0.0.1', port, ttlSeconds });

describe('etcd backend', () => {
  let etcd: EtcdCluster;
  let prefixN = 0;
  const open: { store: Store; registry: Registry }[] = [];
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);

  /** Two replicas of one mesh: a fresh prefix per test, so tests do not see each other's keys. */
  async function replicas(n = 2) {
    const prefix = `/t${prefixN++}/`;
    const out = [];
    for (let i = 0; i < n; i++) {
      const b = await openEtcdBackend({ endpoints: etcd.endpoints, prefix, requestTimeoutMs: 2_000 }, 2, log);
      open.push(b);
      out.push(b);
    }
    return { prefix, replicas: out };
  }

  before(async () => {
    etcd = await startEtcdCluster(1);
  });
  after(async () => {
    for (const b of open) await Promise.all([b.registry.close(), b.store.close()]);
    await etcd?.stop();
  });

  it('a write through one replica is seen by the other, with the same revision', async () => {
    const {
      replicas: [a, b],
    } = await replicas();
    const heard: StoreChange[] = [];
    b!.store.onChange((c) => heard.push(c));
    const r = await a!.store.apply([svc('one'), svc('two')]);
    assert.deepEqual(
      r.results.map((x) => x.action),
      ['created', 'created'],
    );
    // The writer's own cache has it before apply() resolves (read your writes).
    assert.equal(a!.store.revision(), r.revision);
    await waitUntil(() => heard.length === 1, 2_000);
    assert.equal(heard[0]!.revision, r.revision, 'one transaction, one change');
    assert.deepEqual(
      heard[0]!.changes.map((c) => `${c.name} ${c.action}`),
      ['one created', 'two created'],
    );
    assert.equal(b!.store.revision(), r.revision);
    assert.equal(b!.store.get({ kind: 'Service', namespace: 'default', name: 'one' })?.revision, r.revision);

    // Unchanged content is no write at all.
    const same = await b!.store.apply([svc('one')]);
    assert.deepEqual(same, { revision: r.revision, results: [{ kind: 'Service', namespace: 'default', name: 'one', action: 'unchanged' }] });

    const del = await b!.store.delete({ kind: 'Service', namespace: 'default', name: 'two' });
    assert.ok(del! > r.revision);
    await waitUntil(() => a!.store.get({ kind: 'Service', namespace: 'default', name: 'two' }) === undefined, 2_000);
    assert.equal(await a!.store.delete({ kind: 'Service', namespace: 'default', name: 'two' }), undefined);
    assert.deepEqual(
      a!.store.list().map((s) => s.resource.metadata.name),
      ['one'],
    );
  });

  it('compare-and-swap: a stale expected revision fails with CONFLICT naming the current one', async () => {
    const {
      replicas: [a, b],
    } = await replicas();
    const first = await a!.store.apply([svc('cfg', { v: '1' })]);
    const second = await b!.store.apply([svc('cfg', { v: '2' })], { expectedRevision: first.revision });
    await assert.rejects(a!.store.apply([svc('cfg', { v: '3' })], { expectedRevision: first.revision }), (err: unknown) => {
      assert.ok(isMeshError(err, ErrorCode.CONFLICT));
      assert.equal(err.details?.revision, second.revision);
      assert.match(err.message, new RegExp(`expected revision ${first.revision}, the configuration is at revision ${second.revision}`));
      return true;
    });
    // Even a write that would change nothing honours If-Match.
    await waitUntil(() => a!.store.revision() === second.revision, 2_000);
    await assert.rejects(a!.store.apply([svc('cfg', { v: '2' })], { expectedRevision: first.revision }), /revision conflict/);
    await assert.rejects(a!.store.delete({ kind: 'Service', namespace: 'default', name: 'cfg' }, { expectedRevision: first.revision }), /revision conflict/);
    assert.equal(a!.store.get({ kind: 'Service', namespace: 'default', name: 'cfg' })?.resource.metadata.labels?.v, '2');
  });

  it('a lease lives in etcd: heartbeat and deregister through the other replica, expiry seen by both', async () => {
    const {
      replicas: [a, b],
    } = await replicas();
    const changedOnA: string[] = [];
    a!.registry.onChange((s) => changedOnA.push(s));
    const lease = await a!.registry.register(reg(9001, 2));
    assert.equal(lease.ttlSeconds, 2);
    await waitUntil(() => b!.registry.instances('default', 'api').length === 1, 2_000);
    assert.equal(await b!.registry.renew(lease.leaseId), 2);
    assert.equal(await b!.registry.renew('no-such-lease'), undefined);
    assert.equal(b!.registry.hasSeen('default', 'api'), true);
    assert.deepEqual(b!.registry.services(), [{ namespace: 'default', name: 'api', instances: 1 }]);

    const gone = await b!.registry.deregister(lease.leaseId);
    assert.equal(gone?.id, '127.0.0.1:9001');
    await waitUntil(() => a!.registry.size === 0, 2_000);
    assert.deepEqual(changedOnA, ['default/api', 'default/api']);
    assert.equal(await a!.registry.deregister(lease.leaseId), undefined);

    // No heartbeat: etcd ends the lease and both replicas drop the instance.
    const t0 = performance.now();
    await a!.registry.register(reg(9002, 1));
    await waitUntil(() => a!.registry.size === 0 && b!.registry.size === 0, 5_000, 20);
    const expiredMs = performance.now() - t0;
    console.log(`etcd lease of 1 s (etcd's minimum with 500 ms elections) expired on both replicas after ${expiredMs.toFixed(0)} ms`);
    assert.ok(expiredMs >= 900, `not before the TTL (${expiredMs.toFixed(0)} ms)`);
    assert.ok(lines.some((l) => /expire default\/api 127\.0\.0\.1:9002/.test(l)));
    // It still "exists" for watchers, as with the memory registry.
    assert.equal(b!.registry.hasSeen('default', 'api'), true);
  });

  it('registering the same address again replaces the instance; the old lease is over', async () => {
    const {
      replicas: [a, b],
    } = await replicas();
    const old = await a!.registry.register(reg(9003, 10));
    const fresh = await b!.registry.register(registerRequestSchema.parse({ service: 'api', address: '127.0.0.1', port: 9003, labels: { v: '2' } }));
    await waitUntil(() => a!.registry.instances('default', 'api')[0]?.labels.v === '2', 2_000);
    assert.equal(a!.registry.size, 1);
    assert.equal(await a!.registry.renew(old.leaseId), undefined);
    assert.equal(await a!.registry.renew(fresh.leaseId), fresh.ttlSeconds);
  });

  it('reloads when its watch resumes past compacted history, and reports the difference as one change', async () => {
    const prefix = `/t${prefixN++}/`;
    const seedBackend = await openEtcdBackend({ endpoints: etcd.endpoints, prefix }, 2, log);
    open.push(seedBackend);
    const seed = seedBackend.store;
    await seed.apply([svc('kept'), svc('dropped')]);
    // A replica reads its snapshot...
    const raw = new Etcd3({ hosts: etcd.endpoints });
    const state = new EtcdState(raw, prefix, log);
    await state.load();
    const store = new EtcdStore(state, etcd.endpoints, log);
    await store.load();
    const heard: StoreChange[] = [];
    store.onChange((c) => heard.push(c));
    // ...then, before its watch starts, the world moves on and etcd forgets the history in between.
    await seed.apply([svc('added')]);
    await seed.delete({ kind: 'Service', namespace: 'default', name: 'dropped' });
    const other = new Etcd3({ hosts: etcd.endpoints });
    const now = Number((await other.kv.range({ key: Buffer.from('x') })).header.revision);
    await other.kv.compact({ revision: now, physical: true });
    other.close();
    state.follow();
    await waitUntil(() => heard.length > 0, 5_000);
    assert.deepEqual(
      store.list().map((s) => s.resource.metadata.name),
      ['added', 'kept'],
    );
    assert.deepEqual(heard[0]!.changes.map((c) => `${c.name} ${c.action}`).sort(), ['added created', 'dropped deleted']);
    assert.ok(
      lines.some((l) => /etcd history compacted at \d+/.test(l)),
      lines.join('\n'),
    );
    // And it keeps following after the reload.
    await seed.apply([svc('later')]);
    await waitUntil(() => store.get({ kind: 'Service', namespace: 'default', name: 'later' }) !== undefined, 2_000);
    await store.close();
  });

  /**
   * etcd answers a watcher that starts behind in responses of at most 1000 revisions, each labelled with its
   * current revision: a replica that took that label as "applied" dropped every event after the first 1000.
   */
  async function catchUp(writes: number, reconnectOnFirst: boolean) {
    const prefix = `/t${prefixN++}/`;
    const raw = new Etcd3({ hosts: etcd.endpoints });
    const state = new EtcdState(raw, prefix, log);
    await state.load();
    const store = new EtcdStore(state, etcd.endpoints, log);
    await store.load();
    const heard = new Set<string>();
    let reconnected = 0;
    store.onChange((c) => {
      for (const x of c.changes) heard.add(x.name);
      if (reconnectOnFirst && reconnected++ === 0) state.reconnect('test: dropped mid catch-up');
    });
    // Written behind the replica's back, one revision each, before its watch starts.
    const writer = new Etcd3({ hosts: etcd.endpoints });
    const names = Array.from({ length: writes }, (_, i) => `s${i}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((n) => writer.put(`${prefix}config/resources/Service/default/${n}`).value(JSON.stringify(svc(n)))));
    }
    const last = Number((await writer.get(`${prefix}config/resources/Service/default/${names.at(-1)}`).exec()).kvs[0]!.mod_revision);
    writer.close();
    const t0 = performance.now();
    state.follow();
    try {
      await waitUntil(() => store.list().length === writes, 10_000, 20).catch(() => {});
      const missing = names.filter((n) => !store.get({ kind: 'Service', namespace: 'default', name: n }));
      assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${writes} keys never reached the replica`);
      assert.equal(heard.size, writes, 'onChange heard every key');
      assert.ok(state.revision >= last, `applied revision ${state.revision}, last write ${last}`);
      return { ms: performance.now() - t0, reconnected };
    } finally {
      await store.close();
    }
  }

  it('a replica following from 1,500 revisions behind applies every one of them', async () => {
    const { ms } = await catchUp(1_500, false);
    console.log(`caught up 1,500 revisions in ${ms.toFixed(0)} ms`);
  });

  it("a watch that breaks mid catch-up resumes after the last event it applied, not after etcd's current revision", async () => {
    const { reconnected } = await catchUp(2_500, true);
    assert.ok(reconnected > 1, 'changes kept coming after the reconnect');
    assert.ok(
      lines.some((l) => l.includes('etcd watch lost (test: dropped mid catch-up)')),
      lines.slice(-5).join('\n'),
    );
  });

  /**
   * A TCP proxy in front of etcd that, while armed, passes requests on but keeps etcd's answers: a call commits
   * and its caller hears nothing. cut() drops every connection, so the etcd client retries on a new one.
   */
  async function answerEater(target: string) {
    const { hostname, port } = new URL(target);
    const sockets = new Set<net.Socket>();
    let eating = false;
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(port), hostname);
      sockets.add(client).add(upstream);
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        if (!eating) client.write(d);
      });
      for (const s of [client, upstream]) {
        s.on('error', () => {});
        s.on('close', () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(s);
        });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
      eat: () => (eating = true),
      cut: () => {
        eating = false;
        for (const s of sockets) s.destroy();
      },
      close: () => {
        for (const s of sockets) s.destroy();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  it('a write whose first try committed unheard, retried by the client after another write, is answered as written', async () => {
    const prefix = `/t${prefixN++}/`;
    const proxy = await answerEater(etcd.endpoints[0]!);
    try {
      // Replica a reaches etcd through the proxy, with the production client's retry of recoverable errors. A
      // local subchannel pool, so that the retry dials afresh instead of failing fast on the cut connection
      // (with several members, the production client retries on another one).
      const raw = new Etcd3({
        hosts: [proxy.url],
        defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5_000 }),
        grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
        faultHandling: {
          host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(5) }),
          global: retry(handleWhen(isRecoverableError), { maxAttempts: 3, backoff: new ConstantBackoff(100) }),
        },
      });
      const state = new EtcdState(raw, prefix, log);
      await state.load();
      const a = { store: new EtcdStore(state, [proxy.url], log), registry: new EtcdRegistry(state, { defaultTtlSeconds: 2, endpoints: [proxy.url], requestTimeoutMs: 5_000, log }) };
      await a.store.load();
      a.registry.load();
      state.follow();
      const b = await openEtcdBackend({ endpoints: etcd.endpoints, prefix }, 2, log);
      open.push(a, b);
      const cfg = { kind: 'Service', namespace: 'default', name: 'cfg' } as const;
      const first = await a.store.apply([svc('cfg', { v: '1' })]);

      // If-Match write: its first try commits, its answer is lost; meanwhile another write moves the revision.
      proxy.eat();
      const pending = a.store.apply([svc('cfg', { v: '2' })], { expectedRevision: first.revision }).then(
        (r) => ({ ok: true as const, r }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      await waitUntil(() => b.store.get(cfg)?.resource.metadata.labels?.v === '2', 3_000);
      const committedAt = b.store.get(cfg)!.revision;
      await b.store.apply([svc('other')]);
      proxy.cut();
      const answer = await pending;
      assert.ok(answer.ok, `answered ${answer.ok ? '' : String(answer.err)}`);
      assert.equal(answer.r.revision, committedAt, 'the revision its own write committed at');
      assert.deepEqual(
        answer.r.results.map((x) => x.action),
        ['updated'],
      );
      assert.ok(lines.some((l) => l.includes(`etcd: apply committed at revision ${committedAt} on a try the client retried`)));

      // Deregistration: the revoke goes through unheard, the retry finds no lease: still a deregistration.
      const lease = await a.registry.register(reg(9501, 30));
      await waitUntil(() => b.registry.instances('default', 'api').length === 1, 3_000);
      proxy.eat();
      const gone = Promise.resolve(a.registry.deregister(lease.leaseId)).then(
        (r) => ({ ok: true as const, r }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      await waitUntil(() => b.registry.instances('default', 'api').length === 0, 3_000);
      proxy.cut();
      const dereg = await gone;
      assert.ok(dereg.ok, `answered ${dereg.ok ? '' : String(dereg.err)}`);
      assert.equal(dereg.r?.id, '127.0.0.1:9501', 'reported as deregistered, not as an unknown lease');
    } finally {
      await proxy.close();
    }
  });

  it('createControlPlane checks the etcd options, and fails clearly when etcd cannot be reached', async () => {
    const dataDir = await makeTempDir();
    try {
      await assert.rejects(createControlPlane({ dataDir, port: 0, store: 'etcd' }), (err: unknown) => {
        assert.ok(isMeshError(err, ErrorCode.INVALID_OPTIONS));
        assert.match(err.message, /store 'etcd' needs etcd.endpoints/);
        return true;
      });
      await assert.rejects(createControlPlane({ dataDir, port: 0, store: 'etcd', etcd: { endpoints: ['127.0.0.1:2379'] } }), /etcd client URL/);
      // Secure on etcd: the CA's key is kept there encrypted, so the encryption key is required, and for etcd only.
      await assert.rejects(createControlPlane({ dataDir, port: 0, store: 'etcd', etcd: { endpoints: ['http://127.0.0.1:2379'] } }), /give every replica the same key with --ca-encryption-key-file/);
      await assert.rejects(createControlPlane({ dataDir, port: 0, caEncryptionKey: KEY }), /the CA encryption key is for store 'etcd'/);
      const [port] = await freePorts(1);
      await assert.rejects(createControlPlane({ dataDir, port: 0, store: 'etcd', etcd: { endpoints: [`http://127.0.0.1:${port}`], requestTimeoutMs: 500 }, caEncryptionKey: KEY }), (err: unknown) => {
        assert.ok(isMeshError(err, ErrorCode.STORE_UNAVAILABLE));
        assert.match(err.message, new RegExp(`etcd \\(http://127.0.0.1:${port}\\) did not take the initial read`));
        return true;
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('ignores (and logs) a value written into etcd by hand that is not a valid resource', async () => {
    const {
      prefix,
      replicas: [a],
    } = await replicas(1);
    const raw = new Etcd3({ hosts: etcd.endpoints });
    await raw.put(`${prefix}config/resources/Service/default/bad`).value('{"kind":"Service"');
    await raw.put(`${prefix}config/resources/Service/default/wrong`).value(JSON.stringify(svc('other')));
    raw.close();
    await waitUntil(() => lines.filter((l) => l.includes(`ignoring config/resources/Service/default/`)).length >= 2, 2_000);
    assert.deepEqual(a!.store.list(), []);
  });
});
