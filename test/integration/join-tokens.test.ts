/**
 * Issue 3, must-show 6: join tokens decide who gets which identity. A token
 * for api cannot obtain web's identity (by URI SAN, by CN, or by running a
 * mesh process as web); without a token there is no registration and no
 * certificate; malformed and huge CSRs get 400 and 413; the control plane
 * stays up and never answers 500. Also the token matrix of the whole API:
 * 401 without (or with a bad) token, 403 for a join token on admin endpoints
 * and on another service's lease.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { after, before, it } from 'node:test';
import { createMesh, ErrorCode, isMeshError } from '../../src/index.js';
import { createCsr } from '../../src/tls/csr.js';
import { generateKeyPair } from '../../src/tls/keys.js';
import type { ApiErrorBody } from '../../src/config/wire.js';
import { call, makeTempDir, register, startControlPlane, Watcher, type RunningControlPlane } from '../helpers/control-plane.js';
import { Pki } from '../helpers/pki.js';
import { waitUntil } from '../helpers/services.js';

const BODY_LIMIT = 64 * 1024;
let cp: RunningControlPlane;
let apiToken: string;
let dir: string;
let pki: Pki;

before(async () => {
  cp = await startControlPlane({ bodyLimitBytes: BODY_LIMIT });
  apiToken = await cp.joinToken('api');
  dir = await makeTempDir('hyphae-join-');
  pki = new Pki(dir);
});

after(async () => {
  await cp?.stop();
  await rm(dir, { recursive: true, force: true });
});

const csrFor = async (service: string, namespace = 'default') => createCsr(await generateKeyPair(), { trustDomain: 'hyphae.local', namespace, service });

function code(res: { status: number; body: unknown }): string {
  return `${res.status} ${(res.body as ApiErrorBody | undefined)?.error?.code ?? ''}`.trim();
}

it("a token for api obtains api's identity and nothing else", async () => {
  const ok = await call<{ spiffeId: string }>(cp.url, 'POST', '/v1/certificates', { csr: await csrFor('api') }, { token: apiToken });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.spiffeId, 'spiffe://hyphae.local/ns/default/sa/api');

  const asWeb = await call<ApiErrorBody>(cp.url, 'POST', '/v1/certificates', { csr: await csrFor('web') }, { token: apiToken });
  assert.equal(code(asWeb), '403 HYPHAE_ERR_FORBIDDEN');
  assert.match(asWeb.body.error.message, /is for default\/api; it may not obtain the identity of default\/web/);
  const otherNs = await call(cp.url, 'POST', '/v1/certificates', { csr: await csrFor('api', 'shop') }, { token: apiToken });
  assert.equal(code(otherNs), '403 HYPHAE_ERR_FORBIDDEN');
  // openssl: CN=web with no SAN, and CN=api with web's URI SAN.
  const cnOnly = await pki.keyAndCsr('cn-web', 'web');
  assert.equal(code(await call(cp.url, 'POST', '/v1/certificates', { csr: await readFile(cnOnly.csr, 'utf8') }, { token: apiToken })), '403 HYPHAE_ERR_FORBIDDEN');
  const mixed = await pki.keyAndCsr('mixed', 'api', ['URI:spiffe://hyphae.local/ns/default/sa/web']);
  assert.equal(code(await call(cp.url, 'POST', '/v1/certificates', { csr: await readFile(mixed.csr, 'utf8') }, { token: apiToken })), '403 HYPHAE_ERR_FORBIDDEN');
  const otherTd = await pki.keyAndCsr('other-td', 'api', ['URI:spiffe://evil.example/ns/default/sa/api']);
  assert.equal(code(await call(cp.url, 'POST', '/v1/certificates', { csr: await readFile(otherTd.csr, 'utf8') }, { token: apiToken })), '403 HYPHAE_ERR_FORBIDDEN');
  // A CN-only CSR for its own service is fine: the identity comes from the token.
  const cnApi = await pki.keyAndCsr('cn-api', 'api');
  const viaCn = await call<{ spiffeId: string }>(cp.url, 'POST', '/v1/certificates', { csr: await readFile(cnApi.csr, 'utf8') }, { token: apiToken });
  assert.equal(viaCn.body.spiffeId, 'spiffe://hyphae.local/ns/default/sa/api');

  // A mesh process that claims to be web with api's token does not start.
  await assert.rejects(createMesh({ controlPlane: cp.url, service: 'web', token: apiToken, caFile: cp.caFile!, connectAttempts: 2 }), (err) => {
    assert.ok(isMeshError(err, ErrorCode.CONTROL_PLANE_REJECTED), String(err));
    assert.match(err.message, /could not obtain a certificate for default\/web: control plane answered 403/);
    return true;
  });
  console.log('token for api: api 200; web, shop/api, CN=web, web URI SAN, foreign trust domain: 403 each');
});

it('no token, a bad token, a revoked token: no registration, no certificate, no watch (401); the wrong service: 403', async () => {
  const instance = { service: 'api', address: '127.0.0.1', port: 4100 };
  const csr = await csrFor('api');
  for (const token of [null, 'not-a-token-at-all', 'jt_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
    assert.equal(code(await call(cp.url, 'POST', '/v1/instances', instance, { token })), '401 HYPHAE_ERR_UNAUTHENTICATED', String(token));
    assert.equal(code(await call(cp.url, 'POST', '/v1/certificates', { csr }, { token })), '401 HYPHAE_ERR_UNAUTHENTICATED');
    assert.equal(code(await call(cp.url, 'GET', '/v1/watch?services=api', undefined, { token })), '401 HYPHAE_ERR_UNAUTHENTICATED');
  }
  const revoked = await call<{ id: string; token: string }>(cp.url, 'POST', '/v1/tokens', { service: 'api' });
  assert.equal((await call(cp.url, 'DELETE', `/v1/tokens/${revoked.body.id}`)).status, 200);
  assert.equal(code(await call(cp.url, 'POST', '/v1/certificates', { csr }, { token: revoked.body.token })), '401 HYPHAE_ERR_UNAUTHENTICATED');
  const listed = await call<{ instances: unknown[] }>(cp.url, 'GET', '/v1/instances?service=api');
  assert.deepEqual(listed.body.instances, [], 'nothing was registered');

  // With its token, api registers itself but not web, and renews only its own leases.
  assert.equal(code(await call(cp.url, 'POST', '/v1/instances', { ...instance, service: 'web' }, { token: apiToken })), '403 HYPHAE_ERR_FORBIDDEN');
  const own = await register(cp.url, instance, apiToken);
  const webLease = await register(cp.url, { service: 'web', address: '127.0.0.1', port: 4200 });
  assert.equal(code(await call(cp.url, 'PUT', `/v1/leases/${webLease.leaseId}`, undefined, { token: apiToken })), '403 HYPHAE_ERR_FORBIDDEN');
  assert.equal(code(await call(cp.url, 'DELETE', `/v1/leases/${webLease.leaseId}`, undefined, { token: apiToken })), '403 HYPHAE_ERR_FORBIDDEN');
  assert.equal((await call(cp.url, 'PUT', `/v1/leases/${own.leaseId}`, undefined, { token: apiToken })).status, 200);
  // Reads and watches work with any valid token; writes, tokens and the CA need the admin token.
  assert.equal((await call(cp.url, 'GET', '/v1/services', undefined, { token: apiToken })).status, 200);
  for (const [method, path, body] of [
    ['PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'x' } }],
    ['DELETE', '/v1/resources/Service/default/x', undefined],
    ['POST', '/v1/tokens', { service: 'web' }],
    ['GET', '/v1/tokens', undefined],
    ['POST', '/v1/ca/rotate', {}],
    ['POST', '/v1/ca/retire', {}],
  ] as const) {
    assert.equal(code(await call(cp.url, method, path, body, { token: apiToken })), '403 HYPHAE_ERR_FORBIDDEN', `${method} ${path}`);
    assert.equal(code(await call(cp.url, method, path, body, { token: null })), '401 HYPHAE_ERR_UNAUTHENTICATED', `${method} ${path}`);
  }
  // Health and the trust bundle need nothing.
  assert.equal((await call(cp.url, 'GET', '/v1/health', undefined, { token: null })).status, 200);
  const bundle = await call<{ roots: string[] }>(cp.url, 'GET', '/v1/trust-bundle', undefined, { token: null });
  assert.equal(bundle.status, 200);
  assert.equal(bundle.body.roots.join(''), cp.ca);
});

it('malformed CSRs get 400, huge ones 413 (or 400 past the field limit), and the control plane stays up', async () => {
  const ec = await pki.keyAndCsr('ec', 'api', [], ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  const small = await pki.keyAndCsr('small', 'api', [], ['-newkey', 'rsa:1024']);
  const bad: [string, unknown][] = [
    ['garbage', { csr: 'hello' }],
    ['a certificate, not a CSR', { csr: cp.ca }],
    ['broken base64', { csr: '-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n' }],
    ['EC key', { csr: await readFile(ec.csr, 'utf8') }],
    ['1024-bit RSA', { csr: await readFile(small.csr, 'utf8') }],
    ['two URI SANs', { csr: await readFile((await pki.keyAndCsr('two', 'api', ['URI:spiffe://hyphae.local/ns/default/sa/api', 'URI:spiffe://hyphae.local/ns/default/sa/x'])).csr, 'utf8') }],
    ['DNS SAN', { csr: await readFile((await pki.keyAndCsr('dns', 'api', ['DNS:api.example.com'])).csr, 'utf8') }],
    ['field over 16 KiB', { csr: `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(20_000)}\n-----END CERTIFICATE REQUEST-----\n` }],
    ['no csr field', { certificate: 'x' }],
  ];
  const rows: string[] = [];
  for (const [name, body] of bad) {
    const res = await call<ApiErrorBody>(cp.url, 'POST', '/v1/certificates', body, { token: apiToken });
    assert.equal(code(res), '400 HYPHAE_ERR_BAD_REQUEST', `${name}: ${res.text}`);
    rows.push(`  ${name.padEnd(24)} 400 ${res.body.error.message.slice(0, 110)}`);
  }
  const huge = await call<ApiErrorBody>(cp.url, 'POST', '/v1/certificates', undefined, { token: apiToken, raw: JSON.stringify({ csr: 'A'.repeat(2 * BODY_LIMIT) }) });
  assert.equal(code(huge), '413 HYPHAE_ERR_PAYLOAD_TOO_LARGE');
  rows.push(`  ${'body over the limit'.padEnd(24)} 413 ${huge.body.error.message}`);
  // Many at once, while it keeps serving.
  const storm = await Promise.all(Array.from({ length: 30 }, (_, i) => call(cp.url, 'POST', '/v1/certificates', bad[i % bad.length]![1], { token: apiToken })));
  assert.ok(storm.every((r) => r.status === 400));
  assert.equal((await call(cp.url, 'GET', '/v1/health')).status, 200);
  assert.equal(cp.child.proc.exitCode, null);
  assert.deepEqual(
    cp.child.lines.filter((l) => / error |HYPHAE_ERR_INTERNAL/.test(l)),
    [],
  );
  console.log(`bad CSRs:\n${rows.join('\n')}\n  then 30 concurrent bad CSRs: all 400; health 200, no 500, no error logged`);
});

it('a mesh process with a bad token or the wrong CA file does not start, and says which setting is wrong', async () => {
  const options = await cp.meshOptions('api');
  await assert.rejects(createMesh({ ...options, token: 'jt_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', connectAttempts: 1 }), (err) => {
    assert.ok(isMeshError(err, ErrorCode.CONTROL_PLANE_REJECTED), String(err));
    assert.match(err.message, /could not obtain a certificate for default\/api: control plane answered 401.*token is not valid/);
    return true;
  });
  const other = await startControlPlane();
  try {
    await assert.rejects(createMesh({ ...options, caFile: other.caFile!, connectAttempts: 1 }), (err) => {
      assert.ok(isMeshError(err, ErrorCode.CONTROL_PLANE_UNREACHABLE), String(err));
      assert.match(err.message, /not trusted: point caFile \/ HYPHAE_CA_FILE at the control plane's ca-bundle\.pem/);
      return true;
    });
  } finally {
    await other.stop();
  }
  await assert.rejects(createMesh({ ...options, caFile: '/nonexistent/ca.pem' }), (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS) && /HYPHAE_CA_FILE/.test(err.message));
});

/** Resolves as `p` does, or fails saying `what` after 30 s: a ceiling for a stall only, since a busy machine makes "at once" take seconds. */
async function stallCeiling<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} after 30 s`)), 30_000)))]);
  } finally {
    clearTimeout(timer);
  }
}

it('a watch stream ends when its token is revoked (at once) or expires (next heartbeat); only its own token may change it', async () => {
  const local = await startControlPlane({ heartbeatMs: 200 });
  try {
    const made = await call<{ id: string; token: string }>(local.url, 'POST', '/v1/tokens', { service: 'api' });
    const other = await local.joinToken('web');
    const w = await Watcher.open(local.url, ['api'], made.body.token);
    const kept = await Watcher.open(local.url, ['api'], other);
    assert.equal(code(await call(local.url, 'POST', `/v1/watch/${w.hello.streamId}`, { add: ['web'] }, { token: other })), '403 HYPHAE_ERR_FORBIDDEN');
    assert.equal((await call(local.url, 'POST', `/v1/watch/${w.hello.streamId}`, { add: ['web'] }, { token: made.body.token })).status, 204);
    // Several heartbeats pass with both tokens valid: nothing is closed.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(await Promise.race([w.ended.then(() => 'ended'), Promise.resolve('open')]), 'open');

    const t0 = performance.now();
    assert.equal((await call(local.url, 'DELETE', `/v1/tokens/${made.body.id}`)).status, 200);
    await stallCeiling(w.ended, "the revoked token's stream is still open");
    const closedAfter = performance.now() - t0;
    assert.equal(await Promise.race([kept.ended.then(() => 'ended'), new Promise((r) => setTimeout(() => r('open'), 300))]), 'open', "another token's stream stays");
    await waitUntil(() => local.child.lines.some((l) => l.includes(`watch closed 1 stream of revoked token ${made.body.id}`)), 30_000);
    assert.equal(code(await call(local.url, 'GET', '/v1/watch?services=api', undefined, { token: made.body.token })), '401 HYPHAE_ERR_UNAUTHENTICATED', 'and cannot reopen');

    // A token with a 1 s lifetime: its stream is closed at the first heartbeat after it expires.
    const short = await call<{ id: string; token: string }>(local.url, 'POST', '/v1/tokens', { service: 'api', ttlSeconds: 1 });
    const s = await Watcher.open(local.url, ['api'], short.body.token);
    const opened = performance.now();
    await stallCeiling(s.ended, "the expired token's stream is still open");
    const expiredAfter = performance.now() - opened;
    assert.ok(expiredAfter >= 700, `closed after ${expiredAfter.toFixed(0)} ms: not before the token expired`);
    await kept.close();
    console.log(`revoked token's stream closed ${closedAfter.toFixed(0)} ms after the revocation; expired token's stream ${expiredAfter.toFixed(0)} ms after opening (1 s TTL)`);
  } finally {
    await local.stop();
  }
});
