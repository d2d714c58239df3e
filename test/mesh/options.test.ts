import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { parseMeshOptions } from '../../src/mesh/options.js';

const CP = 'http://127.0.0.1:15010';

interface Issue {
  path: string;
  message: string;
}

function issuesOf(input: unknown): Issue[] {
  try {
    parseMeshOptions(input);
  } catch (e) {
    assert.ok(e instanceof MeshError, String(e));
    assert.equal(e.code, ErrorCode.INVALID_OPTIONS);
    assert.equal(e.rejected, true);
    const issues = (e.details as { issues: Issue[] }).issues;
    for (const i of issues) assert.ok(e.message.includes(i.message), `message lists "${i.message}"`);
    return issues;
  }
  assert.fail('expected parseMeshOptions to throw');
}

describe('parseMeshOptions', () => {
  it('fills every default', () => {
    assert.deepEqual(parseMeshOptions({ controlPlane: CP }), {
      controlPlane: CP,
      namespace: 'default',
      labels: {},
      waitForControlPlane: false,
      connectAttempts: 5,
      controlPlaneTimeoutMs: 2_000,
      discoveryTimeoutMs: 5_000,
      passthrough: 'allow',
      unknownServices: 'error',
      http1Transport: 'undici',
      server: { drainDelayMs: 2_000, gracePeriodMs: 30_000, pathSemicolons: 'strip' },
      cacheIdentity: true,
      telemetry: { enabled: true, reportStats: true, statsIntervalMs: 2_000, undiciInstrumentation: 'auto', propagateTo: true },
    });
  });

  it('telemetry: partial objects get the other defaults; bad values are listed', () => {
    const sink = () => {};
    assert.deepEqual(parseMeshOptions({ controlPlane: CP, telemetry: { accessLog: sink, statsIntervalMs: 500 } }).telemetry, {
      enabled: true,
      accessLog: sink,
      reportStats: true,
      statsIntervalMs: 500,
      undiciInstrumentation: 'auto',
      propagateTo: true,
    });
    assert.equal(parseMeshOptions({ controlPlane: CP, telemetry: { accessLog: 'stderr' } }).telemetry.accessLog, 'stderr');
    const issues = issuesOf({ controlPlane: CP, telemetry: { accessLog: 'file', statsIntervalMs: 10, tracerProvider: {}, colour: 1 } });
    assert.deepEqual(issues.map((i) => i.path).sort(), ['telemetry.accessLog', 'telemetry.colour', 'telemetry.statsIntervalMs', 'telemetry.tracerProvider']);
  });

  it('telemetry.propagateTo: true, false, or hosts (names, *.suffix wildcards, IP addresses); anything else is listed', () => {
    const hosts = ['pay.example.com', '*.internal.example.com', '10.0.0.7', '::1'];
    assert.deepEqual(parseMeshOptions({ controlPlane: CP, telemetry: { propagateTo: hosts } }).telemetry.propagateTo, hosts);
    assert.equal(parseMeshOptions({ controlPlane: CP, telemetry: { propagateTo: false } }).telemetry.propagateTo, false);
    const issues = issuesOf({ controlPlane: CP, telemetry: { propagateTo: ['Pay.Example.com', 'ok.example.com', 'a*.example.com', 'http://x.example.com'] } });
    assert.deepEqual(issues.map((i) => i.path).sort(), ['telemetry.propagateTo[0]', 'telemetry.propagateTo[2]', 'telemetry.propagateTo[3]']);
    assert.deepEqual(
      issuesOf({ controlPlane: CP, telemetry: { propagateTo: 'all' } }).map((i) => i.path),
      ['telemetry.propagateTo'],
    );
  });

  it('a partial server object gets the other server defaults', () => {
    assert.deepEqual(parseMeshOptions({ controlPlane: CP, server: { drainDelayMs: 10 } }).server, { drainDelayMs: 10, gracePeriodMs: 30_000, pathSemicolons: 'strip' });
  });

  it('keeps what it is given', () => {
    const resolver = new StaticResolver();
    const o = parseMeshOptions({
      service: 'web',
      namespace: 'shop',
      resolver,
      labels: { version: 'v1', 'topology.kubernetes.io/zone': 'eu-1a' },
      passthrough: 'deny',
      unknownServices: 'passthrough',
      ttlSeconds: 30,
      logger: silentLogger,
      server: { drainDelayMs: 0, gracePeriodMs: 0, advertiseAddress: '10.0.0.5', pathSemicolons: 'keep' },
    });
    assert.equal(o.resolver, resolver, 'the same resolver object, not a copy');
    assert.equal(o.logger, silentLogger);
    assert.equal(o.controlPlane, undefined);
    assert.equal(o.service, 'web');
    assert.equal(o.namespace, 'shop');
    assert.deepEqual(o.labels, { version: 'v1', 'topology.kubernetes.io/zone': 'eu-1a' });
    assert.equal(o.passthrough, 'deny');
    assert.equal(o.unknownServices, 'passthrough');
    assert.equal(o.ttlSeconds, 30);
    assert.deepEqual(o.server, { drainDelayMs: 0, gracePeriodMs: 0, advertiseAddress: '10.0.0.5', pathSemicolons: 'keep' });
  });

  it('accepts a list of control plane URLs, all http or all https', () => {
    assert.deepEqual(parseMeshOptions({ controlPlane: [CP, 'http://127.0.0.2:15010'] }).controlPlane, [CP, 'http://127.0.0.2:15010']);
    const secure = ['https://cp-0.example.com:15010', 'https://cp-1.example.com:15010'];
    assert.deepEqual(parseMeshOptions({ controlPlane: secure, service: 'web', token: 'jt_0123456789abcdef.secret', caFile: '/etc/hyphae/ca.pem' }).controlPlane, secure);
    assert.deepEqual(issuesOf({ controlPlane: [CP, 'https://cp.example.com:15010'] }), [
      { path: 'controlPlane', message: 'mixes http:// and https:// URLs; every replica of a control plane is secure or none is' },
    ]);
  });

  it('an https:// control plane means mTLS: the service name, a join token and the CA are required, each named', () => {
    const issues = issuesOf({ controlPlane: 'https://127.0.0.1:15010' });
    assert.deepEqual(
      issues.map((i) => i.path),
      ['service', 'token', 'caFile'],
    );
    assert.match(issues[0]!.message, /HYPHAE_SERVICE/);
    assert.match(issues[1]!.message, /HYPHAE_TOKEN.*hyphae token create/);
    assert.match(issues[2]!.message, /HYPHAE_CA_FILE.*ca-bundle\.pem/);
    const ok = parseMeshOptions({ controlPlane: 'https://127.0.0.1:15010', service: 'web', token: 'jt_0123456789abcdef.secret', ca: '-----BEGIN CERTIFICATE-----\nx\n' });
    assert.equal(ok.token, 'jt_0123456789abcdef.secret');
  });

  it('refuses a token over plain http, a CA that is not PEM, and both ca and caFile', () => {
    assert.deepEqual(
      issuesOf({ controlPlane: CP, token: 'jt_0123456789abcdef.secret' }).map((i) => i.path),
      ['token'],
    );
    const issues = issuesOf({ controlPlane: 'https://127.0.0.1:1', service: 'a', token: 'short', ca: 'not pem', caFile: '/x' });
    assert.deepEqual(issues.map((i) => i.path).sort(), ['ca', 'caFile', 'token']);
  });

  it('needs a control plane or a resolver', () => {
    const issues = issuesOf({ service: 'web' });
    assert.deepEqual(
      issues.map((i) => i.path),
      ['controlPlane'],
    );
    assert.match(issues[0]!.message, /controlPlane.*resolver/);
  });

  it('rejects control plane URLs that are not http(s), and an empty list', () => {
    assert.deepEqual(
      issuesOf({ controlPlane: 'ftp://cp:21' }).map((i) => i.path),
      ['controlPlane'],
    );
    assert.ok(issuesOf({ controlPlane: 'not a url' }).length > 0);
    assert.ok(issuesOf({ controlPlane: [] }).some((i) => i.path === 'controlPlane'));
    assert.ok(issuesOf({ controlPlane: [CP, 'tcp://x'] }).some((i) => i.path.startsWith('controlPlane')));
  });

  it('lists every problem at once, each with its path', () => {
    const issues = issuesOf({
      controlPlane: CP,
      service: 'Web_1',
      namespace: '',
      labels: { 'bad key!': 'v', ok: 'bad value!' },
      connectAttempts: 0,
      controlPlaneTimeoutMs: 10,
      discoveryTimeoutMs: 1.5,
      passthrough: 'maybe',
      unknownServices: 'ignore',
      ttlSeconds: 0,
      waitForControlPlane: 'yes',
      server: { drainDelayMs: -1, gracePeriodMs: 'long', pathSemicolons: 'cut' },
    });
    const paths = new Set(issues.map((i) => i.path));
    for (const p of [
      'service',
      'namespace',
      'labels.bad key!',
      'labels.ok',
      'connectAttempts',
      'controlPlaneTimeoutMs',
      'discoveryTimeoutMs',
      'passthrough',
      'unknownServices',
      'ttlSeconds',
      'waitForControlPlane',
      'server.drainDelayMs',
      'server.gracePeriodMs',
      'server.pathSemicolons',
    ]) {
      assert.ok(paths.has(p), `an issue for ${p}; got ${[...paths].join(', ')}`);
    }
  });

  it('rejects unknown keys, also inside server', () => {
    const issues = issuesOf({ controlPlane: CP, sevrice: 'web', server: { drainDelay: 5 } });
    const text = issues.map((i) => `${i.path}: ${i.message}`).join('\n');
    assert.match(text, /sevrice/);
    assert.match(text, /drainDelay/);
  });

  it('rejects a resolver or logger that does not have the methods', () => {
    const issues = issuesOf({ resolver: { watch() {} }, logger: { info() {} } });
    const byPath = new Map(issues.map((i) => [i.path, i.message]));
    assert.equal(byPath.get('resolver'), 'must implement watch() and close()');
    assert.equal(byPath.get('logger'), 'must have debug, info, warn and error methods');
  });

  it('rejects what is not an object', () => {
    for (const bad of [undefined, null, 'http://cp', 42]) assert.ok(issuesOf(bad).length > 0, String(bad));
  });

  it('cacheDir: a directory, or false for a memory-only discovery cache', () => {
    assert.equal(parseMeshOptions({ controlPlane: CP, cacheDir: '/var/cache/x' }).cacheDir, '/var/cache/x');
    assert.equal(parseMeshOptions({ controlPlane: CP, cacheDir: false }).cacheDir, false);
    assert.equal(parseMeshOptions({ controlPlane: CP }).cacheDir, undefined);
    assert.ok(issuesOf({ controlPlane: CP, cacheDir: '' }).some((i) => i.path === 'cacheDir'));
    assert.ok(issuesOf({ controlPlane: CP, cacheDir: true }).some((i) => i.path === 'cacheDir'));
  });

  it('bounds: limits are inclusive', () => {
    assert.equal(parseMeshOptions({ controlPlane: CP, connectAttempts: 100, controlPlaneTimeoutMs: 50, ttlSeconds: 300 }).connectAttempts, 100);
    assert.ok(issuesOf({ controlPlane: CP, connectAttempts: 101 }).some((i) => i.path === 'connectAttempts'));
    assert.ok(issuesOf({ controlPlane: CP, ttlSeconds: 301 }).some((i) => i.path === 'ttlSeconds'));
  });
});
