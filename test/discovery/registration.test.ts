/**
 * Registration against a real control plane child whose per-service quota is full: the control plane
 * answers 429 (HYPHAE_ERR_QUOTA_EXCEEDED), which a deregistration or a lease's expiry will clear, so the
 * server keeps serving, says why, and registers as soon as a slot is free. A refusal that retrying cannot
 * cure (400, 403) still fails the registration at once (one layer, a fake client).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import type { Logger } from '../../src/core/logger.js';
import type { ControlPlaneClient } from '../../src/discovery/control-plane-client.js';
import { Registration } from '../../src/discovery/registration.js';
import { ErrorCode, isMeshError, Mesh, MeshError } from '../../src/index.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function portsOf(cp: RunningControlPlane, service: string): Promise<number[]> {
  const r = await call<{ instances: { port: number }[] }>(cp.url, 'GET', `/v1/instances?service=${service}`);
  assert.equal(r.status, 200, r.text);
  return r.body.instances.map((i) => i.port).sort();
}

/** A logger that keeps its warnings, and resolves `warned` at the first one matching `pattern`. */
function recordingLogger(pattern: RegExp): { logger: Logger; warnings: string[]; warned: Promise<void> } {
  const warnings: string[] = [];
  let seen!: () => void;
  const warned = new Promise<void>((resolve) => (seen = resolve));
  const noop = () => {};
  const logger: Logger = {
    debug: noop,
    info: noop,
    error: noop,
    warn: (message: string, fields?: Record<string, unknown>) => {
      const line = `${message} ${JSON.stringify(fields ?? {})}`;
      warnings.push(line);
      if (pattern.test(line)) seen();
    },
  };
  return { logger, warnings, warned };
}

describe('registration while the control plane refuses it', () => {
  const closers: (() => Promise<unknown>)[] = [];

  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
  });

  it('a quota (429) is retried in the background: the server serves meanwhile and registers once a slot frees', async () => {
    // Plain HTTP (--insecure), so that the test's own fetch can show the refused instance still serves.
    const cp = await startControlPlane({ insecure: true, args: ['--max-instances-per-service', '1'] });
    closers.push(() => cp.stop());
    const first = new Mesh({ controlPlane: cp.url, service: 'api', cacheDir: false, server: { drainDelayMs: 0 } });
    closers.push(() => first.close());
    const firstServer = first.wrapServer(http.createServer((_req, res) => res.end('first')));
    const firstPort = await listen(firstServer);
    await first.registered(firstServer);
    assert.deepEqual(await portsOf(cp, 'api'), [firstPort]);

    const { logger, warnings, warned } = recordingLogger(/refuses the registration for now \(a quota\)/);
    const second = new Mesh({ controlPlane: cp.url, service: 'api', cacheDir: false, connectAttempts: 1, logger, server: { drainDelayMs: 0 } });
    closers.push(() => second.close());
    const secondServer = second.wrapServer(http.createServer((_req, res) => res.end('second')));
    const secondPort = await listen(secondServer);
    const registered = second.registered(secondServer);
    await warned;
    assert.ok(
      warnings.some((w) => /429/.test(w) && /QUOTA_EXCEEDED|most one service may have/.test(w)),
      `the warning carries the control plane's answer: ${warnings.join('\n')}`,
    );
    assert.deepEqual(await portsOf(cp, 'api'), [firstPort], 'the quota holds: one instance');
    // Refused by the registry, not by the server: the second process answers meanwhile.
    const res = await fetch(`http://127.0.0.1:${secondPort}/`);
    assert.equal(await res.text(), 'second');

    // The first instance goes (its drain deregisters it): the slot is free and the second takes it.
    await new Promise<void>((resolve) => firstServer.close(() => resolve()));
    const instance = await registered;
    assert.equal(instance?.id, `127.0.0.1:${secondPort}`);
    assert.deepEqual(await portsOf(cp, 'api'), [secondPort]);
  });

  it('a refusal that retrying cannot cure (403, 400) ends the registration at the first answer; a 429 is asked again', async () => {
    // One layer with a fake control plane client: which answers end the loop, and after how many calls.
    const refusal = (status: number) => new MeshError(ErrorCode.CONTROL_PLANE_REJECTED, `control plane answered ${status} to POST /v1/instances`, { details: { status } });
    const req = { service: 'api', address: '127.0.0.1', port: 7000 };
    const { logger } = recordingLogger(/$^/);
    for (const status of [400, 403]) {
      let calls = 0;
      const client = { register: async () => (calls++, Promise.reject(refusal(status))) } as unknown as ControlPlaneClient;
      await assert.rejects(new Registration(client, req, logger).start({ attempts: 5 }), (err) => isMeshError(err, ErrorCode.REGISTRATION_FAILED) && err.message.includes(String(status)));
      assert.equal(calls, 1, `${status}: not asked again`);
    }
    let calls = 0;
    const instance = { id: '127.0.0.1:7000', service: 'api', namespace: 'default', address: '127.0.0.1', port: 7000, labels: {} };
    const client = {
      register: async () => (++calls <= 3 ? Promise.reject(refusal(429)) : { leaseId: 'l1', ttlSeconds: 60, instance }),
      deregister: async () => {},
    } as unknown as ControlPlaneClient;
    const reg = new Registration(client, req, logger);
    assert.equal((await reg.start({ attempts: 1 })).id, '127.0.0.1:7000');
    assert.equal(calls, 4, 'three 429s, then registered');
    await reg.stop();
  });
});
