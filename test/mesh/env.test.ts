import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import { ENV, optionsFromEnv, parseLabels } from '../../src/mesh/env.js';
import { parseMeshOptions } from '../../src/mesh/options.js';

const CP = 'http://127.0.0.1:15010';

/** Asserts a HYPHAE_ERR_INVALID_OPTIONS that names the variable in its message and details. */
function namesVariable(variable: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof MeshError, `not a MeshError: ${String(e)}`);
    assert.equal(e.code, ErrorCode.INVALID_OPTIONS);
    assert.ok(e.message.includes(variable), `message does not name ${variable}: ${e.message}`);
    assert.deepEqual(e.details, { variable });
    return true;
  };
}

describe('optionsFromEnv', () => {
  it('never reads process.env when given an env object', () => {
    // If it fell back to process.env the result would depend on the machine running the test.
    assert.throws(() => optionsFromEnv({}), namesVariable('HYPHAE_CONTROL_PLANE'));
  });

  it('a missing or empty HYPHAE_CONTROL_PLANE is an error that names the variable and shows an example', () => {
    assert.throws(() => optionsFromEnv({ HYPHAE_SERVICE: 'web' }), namesVariable(ENV.CONTROL_PLANE));
    assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: '' }), namesVariable(ENV.CONTROL_PLANE));
    assert.throws(() => optionsFromEnv({}), /HYPHAE_CONTROL_PLANE=https:\/\//);
  });

  it('HYPHAE_TOKEN and HYPHAE_CA_FILE configure mTLS; an https:// control plane without them is refused naming each', () => {
    const env = { HYPHAE_CONTROL_PLANE: 'https://127.0.0.1:15010', HYPHAE_SERVICE: 'web', HYPHAE_TOKEN: ' jt_0123456789abcdef.secret\n', HYPHAE_CA_FILE: '/etc/hyphae/ca.pem' };
    const o = optionsFromEnv(env);
    assert.equal(o.token, 'jt_0123456789abcdef.secret', 'trimmed: a token pasted from a file keeps no newline');
    assert.equal(o.caFile, '/etc/hyphae/ca.pem');
    assert.doesNotThrow(() => parseMeshOptions(o));
    assert.throws(
      () => parseMeshOptions(optionsFromEnv({ HYPHAE_CONTROL_PLANE: 'https://127.0.0.1:15010' })),
      (e: unknown) => e instanceof MeshError && ['HYPHAE_SERVICE', 'HYPHAE_TOKEN', 'HYPHAE_CA_FILE'].every((v) => e.message.includes(v)),
    );
  });

  it('the minimal environment gives a control plane URL and defaults', () => {
    assert.deepEqual(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP }), {
      controlPlane: CP,
      labels: {},
      waitForControlPlane: false,
      server: {},
    });
  });

  it('a comma-separated HYPHAE_CONTROL_PLANE is a list of URLs, trimmed, empty items dropped', () => {
    const o = optionsFromEnv({ HYPHAE_CONTROL_PLANE: ' http://10.0.0.1:15010 , http://10.0.0.2:15010,,http://10.0.0.3:15010, ' });
    assert.deepEqual(o.controlPlane, ['http://10.0.0.1:15010', 'http://10.0.0.2:15010', 'http://10.0.0.3:15010']);
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: ` ${CP} ,` }).controlPlane, CP, 'one URL stays a string');
  });

  it('reads service, namespace, advertise address and wait', () => {
    const o = optionsFromEnv({
      HYPHAE_CONTROL_PLANE: CP,
      HYPHAE_SERVICE: 'web',
      HYPHAE_NAMESPACE: 'shop',
      HYPHAE_ADVERTISE_ADDRESS: '10.1.2.3',
      HYPHAE_WAIT_FOR_CONTROL_PLANE: 'true',
    });
    assert.equal(o.service, 'web');
    assert.equal(o.namespace, 'shop');
    assert.equal(o.server?.advertiseAddress, '10.1.2.3');
    assert.equal(o.waitForControlPlane, true);
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_WAIT_FOR_CONTROL_PLANE: '1' }).waitForControlPlane, true);
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_WAIT_FOR_CONTROL_PLANE: '0' }).waitForControlPlane, false);
  });

  it('empty optional variables count as unset', () => {
    const o = optionsFromEnv({
      HYPHAE_CONTROL_PLANE: CP,
      HYPHAE_SERVICE: '',
      HYPHAE_NAMESPACE: '',
      HYPHAE_ADVERTISE_ADDRESS: '',
      HYPHAE_DRAIN_DELAY_MS: '',
      HYPHAE_GRACE_PERIOD_MS: '',
      HYPHAE_TTL_SECONDS: '',
      HYPHAE_LABELS: '',
    });
    assert.deepEqual(o, { controlPlane: CP, labels: {}, waitForControlPlane: false, server: {} });
  });

  it('parses the numeric variables', () => {
    const o = optionsFromEnv({
      HYPHAE_CONTROL_PLANE: CP,
      HYPHAE_DRAIN_DELAY_MS: '1500',
      HYPHAE_GRACE_PERIOD_MS: '20000',
      HYPHAE_TTL_SECONDS: '15',
    });
    assert.deepEqual(o.server, { drainDelayMs: 1500, gracePeriodMs: 20000 });
    assert.equal(o.ttlSeconds, 15);
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_DRAIN_DELAY_MS: '0' }).server?.drainDelayMs, 0);
  });

  it('a numeric variable that is not a number is an error naming it and quoting the value', () => {
    for (const name of [ENV.DRAIN_DELAY_MS, ENV.GRACE_PERIOD_MS, ENV.TTL_SECONDS]) {
      for (const bad of ['abc', '12ms', 'Infinity', 'NaN']) {
        assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, [name]: bad }), namesVariable(name), `${name}=${bad}`);
        assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, [name]: bad }), new RegExp(`"${bad}"`));
      }
    }
  });

  it('HYPHAE_LABELS is parsed into a record', () => {
    const o = optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_LABELS: 'version=v1, zone = eu-1 ,tier=' });
    assert.deepEqual(o.labels, { version: 'v1', zone: 'eu-1', tier: '' });
  });

  it('a bad HYPHAE_LABELS names the variable and the bad item', () => {
    for (const bad of ['version', 'version=v1,zone', '=v1', 'a=1, =2']) {
      assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_LABELS: bad }), namesVariable(ENV.LABELS), bad);
    }
    assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_LABELS: 'a=1,zone' }), /"zone"/);
  });

  it('HYPHAE_PASSTHROUGH accepts allow and deny', () => {
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PASSTHROUGH: 'allow' }).passthrough, 'allow');
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PASSTHROUGH: 'deny' }).passthrough, 'deny');
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP }).passthrough, undefined);
  });

  it('any other HYPHAE_PASSTHROUGH is an error naming the variable', () => {
    for (const bad of ['yes', 'DENY', 'Allow', ' deny', 'block']) {
      assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PASSTHROUGH: bad }), namesVariable(ENV.PASSTHROUGH), bad);
    }
  });

  it('HYPHAE_HTTP1_TRANSPORT: undici or raw (any case, trimmed); anything else is an error naming the variable', () => {
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_HTTP1_TRANSPORT: 'raw' }).http1Transport, 'raw');
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_HTTP1_TRANSPORT: ' Undici ' }).http1Transport, 'undici');
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_HTTP1_TRANSPORT: '' }).http1Transport, undefined);
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP }).http1Transport, undefined);
    for (const bad of ['h2', 'node', 'raw,undici', 'fetch']) {
      assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_HTTP1_TRANSPORT: bad }), namesVariable(ENV.HTTP1_TRANSPORT), bad);
    }
  });

  it('HYPHAE_PROPAGATE_TO: all or none (any case, or true/false/1/0), else a comma-separated host list the options check', () => {
    const of = (v: string) => optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PROPAGATE_TO: v }).telemetry?.propagateTo;
    for (const v of ['all', 'ALL', 'true', '1']) assert.equal(of(v), true, v);
    for (const v of ['none', 'None', 'false', '0']) assert.equal(of(v), false, v);
    assert.deepEqual(of(' pay.example.com, *.corp.example.com ,,10.0.0.7 '), ['pay.example.com', '*.corp.example.com', '10.0.0.7']);
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PROPAGATE_TO: '' }).telemetry, undefined);
    assert.deepEqual(parseMeshOptions(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PROPAGATE_TO: '*.example.com' })).telemetry.propagateTo, ['*.example.com']);
    assert.throws(
      () => parseMeshOptions(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PROPAGATE_TO: 'Bad Host' })),
      (e: unknown) => e instanceof MeshError && e.code === ErrorCode.INVALID_OPTIONS,
    );
  });

  it('an empty HYPHAE_PASSTHROUGH counts as unset, like every other variable', () => {
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PASSTHROUGH: '' }).passthrough, undefined);
  });

  it('a HYPHAE_CONTROL_PLANE with no URL in it (only commas or spaces) is an error naming the variable', () => {
    for (const bad of [' ', ',', ' , ']) {
      assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: bad }), namesVariable(ENV.CONTROL_PLANE), JSON.stringify(bad));
    }
  });

  it('what it returns is accepted by parseMeshOptions', () => {
    const resolved = parseMeshOptions(
      optionsFromEnv({
        HYPHAE_CONTROL_PLANE: `${CP},http://127.0.0.2:15010`,
        HYPHAE_SERVICE: 'web',
        HYPHAE_LABELS: 'version=v2',
        HYPHAE_DRAIN_DELAY_MS: '100',
        HYPHAE_PASSTHROUGH: 'deny',
        HYPHAE_TTL_SECONDS: '5',
      }),
    );
    assert.deepEqual(resolved.controlPlane, [CP, 'http://127.0.0.2:15010']);
    assert.equal(resolved.service, 'web');
    assert.deepEqual(resolved.labels, { version: 'v2' });
    assert.deepEqual(resolved.server, { drainDelayMs: 100, gracePeriodMs: 30_000, pathSemicolons: 'strip' });
    assert.equal(resolved.passthrough, 'deny');
    assert.equal(resolved.ttlSeconds, 5);
  });
});

describe('HYPHAE_CACHE_DIR', () => {
  it('sets the discovery cache directory; 0, false or off keep it in memory only', () => {
    assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_CACHE_DIR: '/var/cache/hyphae' }).cacheDir, '/var/cache/hyphae');
    for (const off of ['0', 'false', 'OFF']) assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_CACHE_DIR: off }).cacheDir, false, off);
    assert.equal('cacheDir' in optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_CACHE_DIR: ' ' }), false);
  });
});

describe('HYPHAE_CACHE_IDENTITY', () => {
  it('on/off as well as 1/true/yes and 0/false/no (as HYPHAE_CACHE_DIR takes off); unset leaves the default (on)', () => {
    for (const off of ['off', 'OFF', '0', 'false', 'no']) assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_CACHE_IDENTITY: off }).cacheIdentity, false, off);
    for (const on of ['on', '1', 'true', 'yes']) assert.equal(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_CACHE_IDENTITY: on }).cacheIdentity, true, on);
    assert.equal('cacheIdentity' in optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP }), false);
    assert.equal(parseMeshOptions(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP })).cacheIdentity, true);
    assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_CACHE_IDENTITY: 'never' }), namesVariable(ENV.CACHE_IDENTITY));
  });
});

describe('HYPHAE_PATH_SEMICOLONS', () => {
  it('strip, reject or keep (any case) set server.pathSemicolons; anything else names the variable', () => {
    for (const mode of ['strip', 'reject', 'keep'] as const) {
      assert.equal(parseMeshOptions(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PATH_SEMICOLONS: ` ${mode.toUpperCase()} ` })).server.pathSemicolons, mode);
    }
    assert.equal(parseMeshOptions(optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP })).server.pathSemicolons, 'strip');
    for (const bad of ['cut', 'off', 'allow']) {
      assert.throws(() => optionsFromEnv({ HYPHAE_CONTROL_PLANE: CP, HYPHAE_PATH_SEMICOLONS: bad }), namesVariable(ENV.PATH_SEMICOLONS), bad);
    }
  });
});

describe('parseLabels', () => {
  it('parses key=value pairs, trimming, skipping empty items, keeping "=" inside values', () => {
    assert.deepEqual(parseLabels(''), {});
    assert.deepEqual(parseLabels(' , ,'), {});
    assert.deepEqual(parseLabels('a=1,,b=2,'), { a: '1', b: '2' });
    assert.deepEqual(parseLabels('expr=a=b'), { expr: 'a=b' });
    assert.deepEqual(parseLabels('a=1,a=2'), { a: '2' }, 'the last one wins');
  });

  it('a bad item names HYPHAE_LABELS by default', () => {
    assert.throws(() => parseLabels('oops'), namesVariable(ENV.LABELS));
  });
});
