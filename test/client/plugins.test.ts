/**
 * The plug-in points, over real loopback servers: a registered balancer is
 * selected by a Service's `loadBalancer`, an unregistered one is refused with
 * a coded error (the last good balancer stays), and filters of the
 * application's own run where their role places them.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createMesh, isMeshError, ErrorCode, type Logger } from '../../src/index.js';
import { registerBalancer, StaticResolver, type Balancer, type MeshFilter } from '../../src/extend.js';
import { unregisterBalancer } from '../../src/client/concrete/balancers/registry.js';
import { startNamedServer } from '../helpers/http-servers.js';

function capturingLogger(): { logger: Logger; warnings: { msg: string; fields: unknown }[] } {
  const warnings: { msg: string; fields: unknown }[] = [];
  const noop = () => {};
  return { logger: { debug: noop, info: noop, warn: (msg, fields) => warnings.push({ msg, fields }), error: noop }, warnings };
}

describe('plug-in points (real mesh, loopback)', { timeout: 30_000 }, () => {
  const open: { close(): Promise<void> }[] = [];
  after(async () => {
    unregisterBalancer('last-listed');
    for (const o of open.reverse()) await o.close();
  });

  it('registerBalancer: a Service naming it gets it, for every endpoint list', async () => {
    const made: string[] = [];
    class LastListed implements Balancer {
      readonly name = 'last-listed';
      pick(endpoints: Parameters<Balancer['pick']>[0]): ReturnType<Balancer['pick']> {
        return endpoints[endpoints.length - 1];
      }
    }
    registerBalancer('last-listed', (ctx) => {
      made.push(`${ctx.namespace}/${ctx.service}`);
      return new LastListed();
    });
    const a = await startNamedServer('a');
    const b = await startNamedServer('b');
    open.push(a, b);
    const resolver = new StaticResolver({
      api: [
        { address: '127.0.0.1', port: a.port },
        { address: '127.0.0.1', port: b.port },
      ],
    });
    resolver.configure('api', { config: { loadBalancer: 'last-listed' } });
    const mesh = await createMesh({ resolver });
    open.push(mesh);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const res = await mesh.request('http://api/');
      seen.add(((await res.body.json()) as { name: string }).name);
    }
    assert.deepEqual([...seen], ['b'], 'every pick is the last listed endpoint: round robin or p2c would reach a too');
    assert.ok(made.length > 0 && made.every((m) => m === 'default/api'), made.join());
  });

  it('a Service naming a balancer nobody registered: refused with HYPHAE_ERR_INVALID_CONFIG, calls go on with the default', async () => {
    const a = await startNamedServer('a');
    open.push(a);
    const resolver = new StaticResolver({ api: [{ address: '127.0.0.1', port: a.port }] });
    resolver.configure('api', { config: { loadBalancer: 'not-registered' } });
    const { logger, warnings } = capturingLogger();
    const mesh = await createMesh({ resolver, logger });
    open.push(mesh);
    const res = await mesh.request('http://api/');
    assert.equal(((await res.body.json()) as { name: string }).name, 'a');
    const w = warnings.find((x) => x.msg.includes('not-registered'));
    assert.ok(w, JSON.stringify(warnings));
    assert.match(w.msg, /registerBalancer/);
    assert.equal((w.fields as { code?: string }).code, ErrorCode.INVALID_CONFIG);
  });

  it('registerBalancer refuses a built-in name, a bare word and a malformed one', () => {
    for (const name of ['peak_ewma', 'random', 'my_lb', 'Not A Name', '']) {
      assert.throws(
        () => registerBalancer(name, () => ({ name, pick: () => undefined })),
        (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS),
        name,
      );
    }
  });

  it("filters by role: before balance runs per attempt (retries included), before retry once per call, after balance sees the try's endpoint", async () => {
    let n = 0;
    const flaky = await startNamedServer('flaky', (_req, res) => {
      res.statusCode = n++ % 2 === 0 ? 503 : 200;
      res.end(String(res.statusCode));
    });
    open.push(flaky);
    const log: string[] = [];
    const tag =
      (name: string): MeshFilter =>
      (next) =>
      async (call) => {
        log.push(`${name}:${call.endpoint === undefined ? '-' : 'ep'}`);
        const attempt = await next(call);
        log.push(`${name}<${attempt.statusCode}:${attempt.verdict.failure}`);
        return attempt;
      };
    const resolver = new StaticResolver({ flaky: [{ address: '127.0.0.1', port: flaky.port }] });
    const mesh = await createMesh({
      resolver,
      filters: [
        { before: 'retry', filter: tag('call') },
        { before: 'balance', filter: tag('try') },
        { after: 'balance', filter: tag('picked') },
      ],
    });
    open.push(mesh);
    const res = await mesh.request('http://flaky/');
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.deepEqual(log, [
      'call:-',
      'try:-',
      'picked:ep',
      'picked<503:status',
      'try<503:status',
      // Above the balancer a retry still sees the endpoint of the try that failed; the balancer then picks again.
      'try:ep',
      'picked:ep',
      'picked<200:none',
      'try<200:none',
      'call<200:none',
    ]);
  });

  it('a filter with an unknown role is refused at createMesh', async () => {
    const resolver = new StaticResolver({});
    const pass: MeshFilter = (next) => (call) => next(call);
    await assert.rejects(createMesh({ resolver, filters: [{ before: 'nowhere' as 'balance', filter: pass }] }), (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS));
  });
});
