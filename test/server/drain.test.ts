import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import type { Logger } from '../../src/core/logger.js';
import { Drainer, type DrainOptions } from '../../src/server/drain.js';

/** A drain that regresses into hanging fails the test instead of stalling the suite. */
const BOUNDED = { timeout: 10_000 };

const open: http.Server[] = [];

afterEach(() => {
  for (const s of open.splice(0)) {
    s.closeAllConnections();
    if (s.listening) s.close();
  }
});

function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (msg: string) => void lines.push(`${level} ${msg}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

async function start(handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  open.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function drainer(server: http.Server, options: DrainOptions, deregister: () => Promise<void> = async () => {}, logger: Logger = captureLogger()) {
  return new Drainer(server, () => server.close(), options, deregister, logger);
}

/** Sends a request that the server will never answer; resolves with how it ended. */
function hang(port: number): { arrived: Promise<void>; ended: Promise<string> } {
  let ended!: Promise<string>;
  const arrived = new Promise<void>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/hang', agent: false });
    req.on('socket', (s) => s.once('connect', () => setTimeout(resolve, 20)));
    ended = new Promise((done) => {
      req.on('response', () => done('answered'));
      req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    });
  });
  return { arrived, ended };
}

describe('Drainer', () => {
  it('is not draining until drain(), then at once (before deregistration completes)', BOUNDED, async () => {
    const { server } = await start((_q, s) => s.end());
    let finishDeregister!: () => void;
    const d = drainer(server, { drainDelayMs: 0, gracePeriodMs: 1000 }, () => new Promise<void>((r) => (finishDeregister = r)));
    assert.equal(d.draining, false);
    const p = d.drain();
    assert.equal(d.draining, true);
    assert.equal(server.listening, true);
    finishDeregister();
    await p;
    assert.equal(server.listening, false);
  });

  it('drain() is started once: the same promise, one deregistration', BOUNDED, async () => {
    const { server } = await start((_q, s) => s.end());
    let deregistered = 0;
    const d = drainer(server, { drainDelayMs: 10, gracePeriodMs: 1000 }, async () => void deregistered++);
    const a = d.drain();
    const b = d.drain();
    assert.equal(a, b);
    await a;
    assert.equal(deregistered, 1);
  });

  it('the drain delay never exceeds the grace period', BOUNDED, async () => {
    const { server } = await start((_q, s) => s.end());
    const d = drainer(server, { drainDelayMs: 10_000, gracePeriodMs: 300 });
    const t0 = performance.now();
    await d.drain();
    const took = performance.now() - t0;
    // The ceiling tells the capped delay (300 ms) from the asked one (10 s) on a busy machine.
    assert.ok(took >= 290 && took < 5_000, `drained in ${took} ms`);
  });

  it('resolves once the server has closed, without waiting for the grace period when nothing is open', BOUNDED, async () => {
    const { server } = await start((_q, s) => s.end());
    const d = drainer(server, { drainDelayMs: 50, gracePeriodMs: 5_000 });
    let closeEvent = false;
    server.once('close', () => (closeEvent = true));
    const t0 = performance.now();
    await d.drain();
    const took = performance.now() - t0;
    assert.equal(closeEvent, true);
    assert.ok(took >= 45 && took < 1_000, `drained in ${took} ms`);
  });

  it('cuts a hung request at the grace deadline and warns about it', BOUNDED, async () => {
    const { server, port } = await start(() => {});
    const logger = captureLogger();
    const d = drainer(server, { drainDelayMs: 50, gracePeriodMs: 400 }, async () => {}, logger);
    const h = hang(port);
    await h.arrived;
    const t0 = performance.now();
    await d.drain();
    const took = performance.now() - t0;
    assert.equal(await h.ended, 'ECONNRESET');
    assert.ok(took >= 390 && took < 5_000, `drained in ${took} ms`);
    assert.ok(
      logger.lines.some((l) => l.startsWith('warn ') && l.includes('grace period over')),
      logger.lines.join('\n'),
    );
  });

  it('no warning when every connection finished in time', BOUNDED, async () => {
    const { server } = await start((_q, s) => s.end());
    const logger = captureLogger();
    await drainer(server, { drainDelayMs: 0, gracePeriodMs: 200 }, async () => {}, logger).drain();
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(logger.lines, []);
  });

  it('a grace period of 0 closes at once, cutting open requests', BOUNDED, async () => {
    const { server, port } = await start(() => {});
    const h = hang(port);
    await h.arrived;
    const t0 = performance.now();
    await drainer(server, { drainDelayMs: 1_000, gracePeriodMs: 0 }).drain();
    assert.ok(performance.now() - t0 < 300);
    assert.equal(await h.ended, 'ECONNRESET');
  });

  it('a failing deregistration does not stop the drain', BOUNDED, async () => {
    const { server } = await start((_q, s) => s.end());
    const d = drainer(server, { drainDelayMs: 20, gracePeriodMs: 500 }, async () => {
      throw new Error('control plane down');
    });
    const outcome = await d.drain().then(
      () => 'resolved',
      (e: Error) => `rejected: ${e.message}`,
    );
    assert.equal(server.listening, false, 'server closed');
    assert.equal(outcome, 'resolved');
  });
});
