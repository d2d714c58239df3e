/**
 * Resilience hooks that throw (an application's logger or metrics callback
 * with a bug) must not change what the caller gets, nor strand an attempt:
 * the unit test drives the mesh's event sink (meshEvents) with a fake
 * telemetry, the second a real mesh over loopback servers.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Logger } from '../../src/core/logger.js';
import { meshEvents } from '../../src/mesh/mesh-events.js';
import type { EjectionHookEvent, RetryHookEvent } from '../../src/resilience/hooks.js';
import type { MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
import { createMesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { startNamedServer } from '../helpers/http-servers.js';

function capturingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const noop = () => {};
  return { logger: { debug: noop, info: noop, warn: (msg) => warnings.push(msg), error: (msg) => warnings.push(msg) }, warnings };
}

const retryEvent: RetryHookEvent = {
  destination: 'api',
  namespace: 'default',
  route: undefined,
  condition: 'retriable-status',
  decision: 'retry',
  attempt: 0,
  endpoint: '127.0.0.1:1',
  delayMs: 0,
};
const ejectionEvent: EjectionHookEvent = {
  destination: 'api',
  namespace: 'default',
  endpoint: '127.0.0.1:1',
  reason: 'consecutive-failures',
  durationMs: 30_000,
  multiplier: 1,
};

describe('meshEvents: the hooks and telemetry subscribed to the sink', () => {
  it("a throwing application hook is caught, logged once per hook, and telemetry's counter still runs", () => {
    const recorded: string[] = [];
    const telemetry = {
      recordRetry: () => recorded.push('retry'),
      recordBudgetExhausted: () => recorded.push('budget'),
      recordEjection: () => recorded.push('ejection'),
      recordShed: () => recorded.push('shed'),
    } as unknown as MeshTelemetry;
    const { logger, warnings } = capturingLogger();
    const boom = () => {
      throw new Error('boom');
    };
    const events = meshEvents({ onRetry: boom, onEjection: boom, onShed: boom, onLimited: boom }, telemetry, logger);
    for (let i = 0; i < 3; i++) {
      events.emit('retry', retryEvent);
      events.emit('ejection', ejectionEvent);
      events.emit('shed', { reason: 'concurrency' });
      events.emit('limited', { destination: 'api', namespace: 'default', maxConcurrent: 1, maxPending: 0 });
    }
    assert.deepEqual(recorded, ['retry', 'ejection', 'shed', 'retry', 'ejection', 'shed', 'retry', 'ejection', 'shed']);
    assert.equal(warnings.length, 4, warnings.join('\n'));
    for (const name of ['onRetry', 'onEjection', 'onShed', 'onLimited'])
      assert.ok(
        warnings.some((w) => w.includes(`the ${name} hook`)),
        name,
      );
  });

  it('a throwing telemetry hook does not stop the application hook of the next event', () => {
    const telemetry = {
      recordRetry: () => {
        throw new Error('exporter down');
      },
    } as unknown as MeshTelemetry;
    const { logger, warnings } = capturingLogger();
    let told = 0;
    const events = meshEvents({ onRetry: () => told++ }, telemetry, logger);
    events.emit('retry', retryEvent);
    events.emit('retry', retryEvent);
    assert.equal(told, 2);
    assert.equal(warnings.length, 1);
  });
});

describe('throwing hooks in a real mesh (loopback)', { timeout: 30_000 }, () => {
  const open: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const o of open.reverse()) await o.close();
  });

  it('a throwing onRetry and onEjection: the caller still gets the 200 or the 503, and no endpoint stays in flight', async () => {
    // Alternates 503 / 200: every call's first attempt is retried (onRetry 'retry') and answered by the second.
    let n = 0;
    const alternating = await startNamedServer('alternating', (_req, res) => {
      res.statusCode = n++ % 2 === 0 ? 503 : 200;
      res.end(String(res.statusCode));
    });
    // Always 503: retried once, then given up (onRetry 'attempts-exhausted'); the 5th failure ejects it.
    const failing = await startNamedServer('failing', (_req, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    open.push(alternating, failing);
    const resolver = new StaticResolver({
      alternating: [{ address: '127.0.0.1', port: alternating.port }],
      failing: [{ address: '127.0.0.1', port: failing.port }],
    });
    let retriesTold = 0;
    let ejectionsTold = 0;
    const { logger, warnings } = capturingLogger();
    const mesh = await createMesh({
      resolver,
      logger,
      hooks: {
        onRetry: () => {
          retriesTold++;
          throw new Error('metrics callback bug (retry)');
        },
        onEjection: () => {
          ejectionsTold++;
          throw new Error('metrics callback bug (ejection)');
        },
      },
    });
    open.push(mesh);

    for (let i = 0; i < 3; i++) {
      const res = await mesh.request('http://alternating/');
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), '200');
    }
    for (let i = 0; i < 3; i++) {
      const res = await mesh.request('http://failing/');
      assert.equal(res.statusCode, 503);
      assert.equal(await res.body.text(), 'down');
    }
    assert.equal(retriesTold, 9, '3 retries, then 3 retries and 3 given up');
    assert.equal(ejectionsTold, 1);
    assert.equal(mesh.endpoints('failing')[0]!.health, 'ejected');
    for (const service of ['alternating', 'failing']) {
      assert.deepEqual(
        mesh.endpoints(service).map((e) => e.inflight),
        [0],
        `${service}: every attempt released its endpoint`,
      );
    }
    assert.equal(warnings.filter((w) => w.includes('hook threw')).length, 2, warnings.join('\n'));
  });
});
