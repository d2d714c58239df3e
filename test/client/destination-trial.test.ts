/**
 * An ejected endpoint whose trial request hangs (it accepts connections and
 * never answers) must not stay out for ever: the Destination's timer fails the
 * trial after trialTimeoutMs (baseEjectionTime), ejects it again, and once it
 * answers again a later trial brings it back. Real mesh, loopback servers.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { serviceSpecSchema } from '../../src/config/resources.js';
import { createMesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import type { EjectionHookEvent } from '../../src/resilience/hooks.js';
import { startNamedServer } from '../helpers/http-servers.js';

async function until(check: () => boolean, ms: number, what: string, poke?: () => void): Promise<void> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > ms) throw new Error(`${what} not seen within ${ms} ms`);
    poke?.();
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('outlier detection: a trial request that hangs (real mesh, loopback)', { timeout: 30_000 }, () => {
  const open: { close(): Promise<void> }[] = [];
  const aborts: AbortController[] = [];
  after(async () => {
    for (const a of aborts) a.abort();
    for (const o of open.reverse()) await o.close();
  });

  it('the hung trial fails after trialTimeoutMs (ejected again), and a later good trial brings the endpoint back', async () => {
    let mode: 'fail' | 'hang' | 'ok' = 'fail';
    let hungHits = 0;
    const flaky = await startNamedServer('flaky', (_req, res) => {
      if (mode === 'hang') {
        hungHits++;
        return;
      }
      res.statusCode = mode === 'fail' ? 500 : 200;
      res.end(mode);
    });
    const good = await startNamedServer('good');
    open.push(flaky, good);
    const resolver = new StaticResolver({
      api: [
        { address: '127.0.0.1', port: flaky.port },
        { address: '127.0.0.1', port: good.port },
      ],
    });
    resolver.configure('api', {
      config: serviceSpecSchema.parse({
        loadBalancer: 'round_robin',
        retries: { attempts: 1 },
        // 2 endpoints: at most one ejected (always one), and 50 % healthy is not yet panic.
        outlierDetection: { consecutiveFailures: 2, baseEjectionTime: '200ms', maxEjectionPercent: 10, panicThreshold: 50 },
      }),
    });
    const ejections: EjectionHookEvent[] = [];
    let returns = 0;
    const mesh = await createMesh({ resolver, hooks: { onEjection: (e) => ejections.push(e), onReturn: () => returns++ } });
    open.push(mesh);
    const flakyId = `127.0.0.1:${flaky.port}`;
    const healthOfFlaky = () => mesh.endpoints('api').find((e) => e.id === flakyId)?.health;
    // Requests are not awaited: the one that reaches the hanging endpoint never ends (until the test aborts it).
    const send = () => {
      const ac = new AbortController();
      aborts.push(ac);
      mesh.request('http://api/', { signal: ac.signal }).then(
        (r) => r.body.text(),
        () => {},
      );
    };

    await until(() => ejections.length === 1, 5_000, 'first ejection', send);
    assert.equal(ejections[0]!.reason, 'consecutive-failures');

    mode = 'hang';
    await until(() => hungHits === 1, 5_000, 'the trial request reaching the hanging endpoint', send);
    assert.equal(healthOfFlaky(), 'trial');
    // Without a bound, nothing would ever end this trial: no timeout is configured.
    await until(() => ejections.length === 2, 5_000, 'the hung trial failing');
    assert.deepEqual([ejections[1]!.reason, ejections[1]!.multiplier], ['failed-trial', 2]);
    assert.equal(healthOfFlaky(), 'ejected');

    mode = 'ok';
    await until(() => returns === 1, 5_000, 'the endpoint back after a good trial', send);
    assert.equal(healthOfFlaky(), 'healthy');
    assert.equal(hungHits, 1, 'exactly one request was sent to the endpoint while it hung');
  });
});
