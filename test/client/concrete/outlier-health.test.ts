/**
 * An ejected endpoint whose trial request hangs (it accepts connections and
 * never answers) must not stay out for ever: OutlierHealth's timer fails the
 * trial after trialTimeoutMs (baseEjectionTime), ejects it again, and once it
 * answers again a later trial brings it back. Real mesh, loopback servers.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { serviceSpecSchema } from '../../../src/config/resources.js';
import { createMesh } from '../../../src/index.js';
import { StaticResolver } from '../../../src/extend.js';
import type { EjectionHookEvent } from '../../../src/resilience/hooks.js';
import { startNamedServer } from '../../helpers/http-servers.js';

async function until(check: () => boolean, ms: number, what: string, poke?: () => void): Promise<void> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > ms) throw new Error(`${what} not seen within ${ms} ms`);
    poke?.();
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('outlier detection: a trial request that hangs (real mesh, loopback)', { timeout: 90_000 }, () => {
  const open: { close(): Promise<void> }[] = [];
  const aborts: AbortController[] = [];
  after(async () => {
    for (const a of aborts) a.abort();
    for (const o of open.reverse()) await o.close();
  });

  it('the hung trial fails after trialTimeoutMs (ejected again), and a later good trial brings the endpoint back', async () => {
    let mode: 'fail' | 'hang' | 'ok' = 'fail';
    let hungHits = 0;
    // Read when the trial arrives, in this process: a poll after it could come later than the trial's timeout
    // on a busy machine, and see the endpoint ejected again already.
    let healthAtTrial: string | undefined;
    const flaky = await startNamedServer('flaky', (_req, res) => {
      if (mode === 'hang') {
        hungHits++;
        healthAtTrial ??= healthOfFlaky();
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
        // 2 endpoints: at most one ejected (always one), and 50 % healthy is not yet panic. The trial's timeout is
        // the base ejection time: long enough that a busy machine does not expire a trial before it is sent.
        outlierDetection: { consecutiveFailures: 2, baseEjectionTime: '500ms', maxEjectionPercent: 10, panicThreshold: 50 },
      }),
    });
    const ejections: EjectionHookEvent[] = [];
    let returns = 0;
    const mesh = await createMesh({ resolver, hooks: { onEjection: (e) => ejections.push(e), onReturn: () => returns++ } });
    open.push(mesh);
    const flakyId = `127.0.0.1:${flaky.port}`;
    const healthOfFlaky = () => mesh.endpoints('api').find((e) => e.id === flakyId)?.health;
    // Requests are not awaited: the one that reaches the hanging endpoint never ends (until the test aborts it).
    let pending = 0;
    const send = () => {
      const ac = new AbortController();
      aborts.push(ac);
      pending++;
      mesh
        .request('http://api/', { signal: ac.signal })
        .then(
          (r) => r.body.text(),
          () => {},
        )
        .finally(() => pending--);
    };

    // The ceilings (15 s) only bound a stall: every step takes one or two ejection times (0.5 s, then 1 s).
    await until(() => ejections.length === 1, 15_000, 'first ejection', send);
    assert.equal(ejections[0]!.reason, 'consecutive-failures');
    // Requests sent before the ejection may still be on their way to flaky (a busy machine delays them): they
    // must be answered before it hangs, so that the only request it gets while hanging is the trial.
    await until(() => pending === 0, 15_000, 'the requests sent before the ejection answered');

    mode = 'hang';
    await until(() => hungHits === 1, 15_000, 'the trial request reaching the hanging endpoint', send);
    assert.equal(healthAtTrial, 'trial');
    // Without a bound, nothing would ever end this trial: no timeout is configured.
    await until(() => ejections.length === 2, 15_000, 'the hung trial failing');
    assert.deepEqual([ejections[1]!.reason, ejections[1]!.multiplier], ['failed-trial', 2]);
    assert.equal(healthOfFlaky(), 'ejected');

    mode = 'ok';
    await until(() => returns === 1, 15_000, 'the endpoint back after a good trial', send);
    assert.equal(healthOfFlaky(), 'healthy');
    assert.equal(hungHits, 1, 'exactly one request was sent to the endpoint while it hung');
  });
});
