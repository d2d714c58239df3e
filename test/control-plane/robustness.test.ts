/**
 * Nothing a client sends can crash the control plane: every endpoint gets
 * malformed, oversized, wrong-typed, unknown-field, wrong-media-type and
 * wrong-method requests, bad path encodings and raw socket garbage, and must
 * answer each with a clear JSON error, then still be healthy.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { call, startControlPlane, type ApiResponse, type RunningControlPlane } from '../helpers/control-plane.js';
import type { ApiErrorBody } from '../../src/config/wire.js';

const BODY_LIMIT = 64 * 1024;

interface Endpoint {
  method: string;
  path: string;
  /** Every method the path allows (the expected Allow header on 405). */
  allow: string;
  /** Takes a JSON body. */
  json?: boolean;
}

const ENDPOINTS: Endpoint[] = [
  { method: 'GET', path: '/v1/health', allow: 'GET' },
  { method: 'GET', path: '/v1/instances', allow: 'POST, GET' },
  { method: 'POST', path: '/v1/instances', allow: 'POST, GET', json: true },
  { method: 'PUT', path: '/v1/leases/some-lease', allow: 'PUT, DELETE', json: true },
  { method: 'DELETE', path: '/v1/leases/some-lease', allow: 'PUT, DELETE' },
  { method: 'GET', path: '/v1/services', allow: 'GET' },
  { method: 'GET', path: '/v1/watch', allow: 'GET' },
  { method: 'POST', path: '/v1/watch/some-stream', allow: 'POST', json: true },
  { method: 'GET', path: '/v1/resources', allow: 'PUT, GET' },
  { method: 'PUT', path: '/v1/resources', allow: 'PUT, GET', json: true },
  { method: 'GET', path: '/v1/resources/Service/default/x', allow: 'GET, DELETE' },
  { method: 'DELETE', path: '/v1/resources/Service/default/x', allow: 'GET, DELETE' },
  { method: 'GET', path: '/v1/trust-bundle', allow: 'GET' },
  { method: 'POST', path: '/v1/certificates', allow: 'POST', json: true },
  { method: 'POST', path: '/v1/tokens', allow: 'POST, GET', json: true },
  { method: 'GET', path: '/v1/tokens', allow: 'POST, GET' },
  { method: 'DELETE', path: '/v1/tokens/jt_0123456789abcdef', allow: 'DELETE' },
  { method: 'GET', path: '/v1/ca', allow: 'GET' },
  // Their bodies are optional ({} rotates or retires), so the JSON-body cases that end in a valid call skip them.
  { method: 'POST', path: '/v1/ca/rotate', allow: 'POST' },
  { method: 'POST', path: '/v1/ca/retire', allow: 'POST' },
  { method: 'GET', path: '/v1/tap/default/x', allow: 'GET' },
  { method: 'POST', path: '/v1/tap/some-tap', allow: 'POST', json: true },
];
const JSON_ENDPOINTS = ENDPOINTS.filter((e) => e.json);

/** Wrong types and unknown fields for each JSON endpoint, with the issue paths that must be reported. */
const BAD_BODIES: Record<string, { body: unknown; paths: string[] }[]> = {
  'POST /v1/tap/some-tap': [
    { body: { samples: 'x', dropped: -1 }, paths: ['samples', 'dropped'] },
    { body: { samples: [{ t: 1, method: 'GET', path: '/', status: 1000, latencyMs: 1, instance: 'i', extra: 1 }] }, paths: ['samples[0].status', 'samples[0].extra'] },
  ],
  'POST /v1/instances': [
    { body: { service: 42, address: '127.0.0.1', port: 'http', weight: 1.5 }, paths: ['service', 'port', 'weight'] },
    { body: { service: 'api', address: 'not an address!', port: 70000, labels: { 'bad key!': 'v', ok: 'bad value!' } }, paths: ['address', 'port', 'labels.bad key!', 'labels.ok'] },
    { body: { service: 'api', address: '127.0.0.1', port: 80, leaseId: 'mine', extra: 1 }, paths: ['leaseId', 'extra'] },
    { body: { service: 'api', address: '127.0.0.1', port: 80, ttlSeconds: 0 }, paths: ['ttlSeconds'] },
    { body: 'a string', paths: [''] },
    { body: null, paths: [''] },
  ],
  'PUT /v1/leases/some-lease': [
    { body: { ttlSeconds: 5 }, paths: ['ttlSeconds'] },
    { body: [1, 2], paths: [''] },
  ],
  'POST /v1/watch/some-stream': [
    { body: { add: 'api', remove: [7] }, paths: ['add', 'remove[0]'] },
    { body: { add: ['api'], subscribe: true }, paths: ['subscribe'] },
    { body: { add: ['x'.repeat(200)] }, paths: ['add[0]'] },
  ],
  'POST /v1/certificates': [
    { body: { csr: 5 }, paths: ['csr'] },
    { body: { csr: 'x', extra: 1 }, paths: ['extra'] },
    { body: { csr: 'x'.repeat(20_000) }, paths: ['csr'] },
  ],
  'POST /v1/tokens': [
    { body: { service: 7, ttlSeconds: 0 }, paths: ['service', 'ttlSeconds'] },
    { body: { service: 'api', namespace: 'Bad!', scope: 'all' }, paths: ['namespace', 'scope'] },
  ],
  'PUT /v1/resources': [
    { body: { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 7 }, spec: { loadBalancer: 3 } }, paths: ['metadata.name', 'spec.loadBalancer'] },
    { body: { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'a', owner: 'me' }, extra: 1 }, paths: ['metadata.owner', 'extra'] },
    { body: { items: 'nope' }, paths: ['items'] },
    { body: { items: [{ kind: 'Service' }, 5] }, paths: ['items[0].apiVersion', 'items[0].metadata', 'items[1]'] },
    { body: { items: [], other: 1 }, paths: ['other'] },
  ],
};

function assertApiError(res: ApiResponse<ApiErrorBody>, status: number, code: string, message?: RegExp): void {
  const where = `${res.status} ${res.text.slice(0, 300)}`;
  assert.equal(res.status, status, where);
  assert.match(String(res.headers['content-type']), /^application\/json/, where);
  assert.equal(res.body?.error?.code, code, where);
  assert.ok(typeof res.body.error.message === 'string' && res.body.error.message.length > 10, where);
  if (message) assert.match(res.body.error.message, message, where);
  for (const issue of res.body.error.issues ?? []) {
    assert.equal(typeof issue.path, 'string');
    assert.ok(issue.message.length > 0);
  }
}

interface RawAnswer {
  status: number;
  head: string;
  body: string;
  /** The server closed the connection. */
  closed: boolean;
}

/** The control plane's CA, for raw connections (the API is HTTPS; the HTTP layer under test is the same). */
let rawCa: string | undefined;

function connect(port: number): net.Socket {
  return rawCa ? tls.connect({ port, host: '127.0.0.1', ca: rawCa, servername: 'localhost' }) : net.connect(port, '127.0.0.1');
}

/** The admin token, added to raw requests as call() adds it: these tests are about what comes after authentication. */
let rawToken: string | undefined;

function withToken(data: string | Buffer): string | Buffer {
  if (typeof data !== 'string' || !rawToken) return data;
  return data.replace('\r\nHost: x\r\n', `\r\nHost: x\r\nAuthorization: Bearer ${rawToken}\r\n`);
}

/** Write bytes on a fresh connection and read one HTTP answer (or none). */
function raw(port: number, request: string | Buffer, opts: { end?: boolean; waitMs?: number } = {}): Promise<RawAnswer> {
  const data = withToken(request);
  return new Promise((resolve) => {
    const socket = connect(port);
    let out = Buffer.alloc(0);
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = out.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: split < 0 ? '' : text.slice(split + 4), closed });
    };
    socket.on('data', (d) => (out = Buffer.concat([out, d])));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    const timer = setTimeout(() => finish(false), opts.waitMs ?? 2_000);
    socket.write(data);
    if (opts.end) socket.end();
  });
}

/** Bytes on a plain TCP connection; resolves with whatever came back when the server closed it. */
function rawPlain(port: number, data: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(out.startsWith('HTTP/') ? out : ''));
    // Half-close after the bytes: the server sees the end at once instead of waiting for its handshake timeout.
    socket.end(data);
    setTimeout(() => socket.destroy(), 11_000).unref();
  });
}

function rawError(a: RawAnswer): ApiErrorBody {
  const body = /transfer-encoding: chunked/i.test(a.head) ? a.body.replace(/^[0-9a-f]+\r\n/i, '').replace(/\r\n0\r\n\r\n$/, '') : a.body;
  return JSON.parse(body) as ApiErrorBody;
}

describe('robustness', () => {
  let cp: RunningControlPlane;

  before(async () => {
    cp = await startControlPlane({ bodyLimitBytes: BODY_LIMIT });
    rawCa = cp.ca;
    rawToken = cp.adminToken;
  });
  after(async () => {
    await cp?.stop();
  });

  it('answers malformed JSON on every JSON endpoint with 400 and the parser message', async () => {
    for (const e of JSON_ENDPOINTS) {
      for (const raw of ['{"service": ', '{bad}', "{'single': 1}", '[1, 2,]', '\u0000']) {
        const res = await call<ApiErrorBody>(cp.url, e.method, e.path, undefined, { raw, contentType: 'application/json' });
        assertApiError(res, 400, 'HYPHAE_ERR_BAD_REQUEST', /^request body is not valid JSON: .*(JSON|position|token)/);
      }
      const invalidUtf8 = await call<ApiErrorBody>(cp.url, e.method, e.path, undefined, { raw: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) });
      assertApiError(invalidUtf8, 400, 'HYPHAE_ERR_BAD_REQUEST', /not valid UTF-8/);
    }
  });

  it('answers a body over the limit with 413 on every endpoint', async () => {
    const big = 'x'.repeat(BODY_LIMIT + 1);
    for (const e of ENDPOINTS) {
      const res = await call<ApiErrorBody>(cp.url, e.method, e.path, undefined, { raw: big, contentType: 'application/json' });
      assertApiError(res, 413, 'HYPHAE_ERR_PAYLOAD_TOO_LARGE', new RegExp(`limit is ${BODY_LIMIT} bytes`));
      assert.equal(res.headers.connection, 'close', `${e.method} ${e.path}`);
    }
  });

  it('answers 413 from the declared length alone, without waiting for the body, and closes', async () => {
    const declared = await raw(cp.port, `POST /v1/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"service":`);
    assert.equal(declared.status, 413);
    assert.equal(declared.closed, true, 'the connection is closed: the rest of the body is never read');
    assert.match(rawError(declared).error.message, /request body is 10000000 bytes/);
  });

  it('stops reading a chunked body as soon as it passes the limit', async () => {
    const socket = connect(cp.port);
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(withToken('PUT /v1/resources HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'));
    const chunk = 'a'.repeat(16 * 1024);
    let sent = 0;
    // Bounded: at most 64 chunks (1 MiB, 16 times the limit).
    for (let i = 0; i < 64 && answer === '' && !socket.destroyed; i++) {
      socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      sent += chunk.length;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2_000))]);
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /request body is more than 65536 bytes/);
    assert.ok(sent <= BODY_LIMIT * 4, `the server answered only after ${sent} bytes`);
  });

  it('lists every wrong type and unknown field, with paths, on every JSON endpoint', async () => {
    for (const [key, cases] of Object.entries(BAD_BODIES)) {
      const [method, path] = key.split(' ') as [string, string];
      for (const c of cases) {
        const res = await call<ApiErrorBody>(cp.url, method, path, c.body);
        const code = path === '/v1/resources' ? 'HYPHAE_ERR_INVALID_CONFIG' : 'HYPHAE_ERR_BAD_REQUEST';
        assertApiError(res, 400, code);
        const paths = res.body.error.issues?.map((i) => i.path);
        assert.deepEqual(paths?.slice().sort(), c.paths.slice().sort(), `${key} ${JSON.stringify(c.body).slice(0, 80)}: ${res.text}`);
        // The message repeats every issue, so a person reading only the message sees them all.
        for (const p of c.paths.filter((x) => x !== '')) assert.ok(res.body.error.message.includes(`${p}: `), `${p} in ${res.body.error.message}`);
      }
    }
    const unknownField = await call<ApiErrorBody>(cp.url, 'POST', '/v1/instances', { service: 'a', address: '127.0.0.1', port: 1, colour: 'red' });
    assert.deepEqual(unknownField.body.error.issues, [{ path: 'colour', message: 'unknown field' }]);
  });

  it('answers an empty body where one is required with 400', async () => {
    for (const e of JSON_ENDPOINTS.filter((x) => !x.path.startsWith('/v1/leases'))) {
      const res = await call<ApiErrorBody>(cp.url, e.method, e.path, undefined, { raw: '', contentType: 'application/json' });
      assertApiError(res, 400, 'HYPHAE_ERR_BAD_REQUEST', /body is empty/);
    }
  });

  it('answers a content type other than JSON with 415 on every JSON endpoint', async () => {
    for (const e of JSON_ENDPOINTS) {
      // No Content-Type at all is refused too: a page can send a typeless body without a CORS preflight.
      for (const contentType of [null, 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data; boundary=x']) {
        const res = await call<ApiErrorBody>(cp.url, e.method, e.path, undefined, { raw: '{}', contentType });
        assertApiError(res, 415, 'HYPHAE_ERR_UNSUPPORTED_MEDIA_TYPE', /send application\/json/);
      }
      const ok = await call(cp.url, e.method, e.path, undefined, { raw: '{}', contentType: 'Application/JSON; charset=UTF-8' });
      assert.notEqual(ok.status, 415, 'media types are case-insensitive');
    }
  });

  it('answers a wrong method with 405 and an Allow header on every path', async () => {
    const paths = [...new Set(ENDPOINTS.map((e) => e.path))];
    for (const path of paths) {
      const allow = ENDPOINTS.find((e) => e.path === path)!.allow;
      for (const method of ['PATCH', 'HEAD', 'OPTIONS', 'TRACE', ...['GET', 'POST', 'PUT', 'DELETE'].filter((m) => !allow.includes(m))]) {
        const res = await call<ApiErrorBody>(cp.url, method, path);
        if (method === 'HEAD') {
          assert.equal(res.status, 405, `HEAD ${path}`);
          assert.equal(res.headers.allow, allow);
          continue;
        }
        assertApiError(res, 405, 'HYPHAE_ERR_METHOD_NOT_ALLOWED', new RegExp(`use ${allow.replace(', ', ' or ')}`));
        assert.equal(res.headers.allow, allow, `${method} ${path}`);
      }
    }
  });

  it('answers unknown paths with 404 and unknown query parameters with 400', async () => {
    for (const path of ['/', '/v1', '/v1/', '/v2/health', '/v1/health/', '/v1/leases', '/v1/leases/', '/v1/resources/Service/default', '/v1//health', '/v1/watch/a/b']) {
      const res = await call<ApiErrorBody>(cp.url, 'GET', path);
      assertApiError(res, 404, 'HYPHAE_ERR_NOT_FOUND', /no endpoint at/);
    }
    const query = await call<ApiErrorBody>(cp.url, 'GET', '/v1/instances?servce=api');
    assertApiError(query, 400, 'HYPHAE_ERR_BAD_REQUEST', /unknown query parameter "servce"; accepted: service, namespace/);
    const twice = await call<ApiErrorBody>(cp.url, 'GET', '/v1/instances?service=a&service=b');
    assertApiError(twice, 400, 'HYPHAE_ERR_BAD_REQUEST', /given 2 times/);
  });

  it('answers bad percent-encoding in paths with 400', async () => {
    const cases: [string, string][] = [
      ['PUT', '/v1/leases/%E0%A4%A'],
      ['DELETE', '/v1/leases/%E0%A4%A'],
      ['POST', '/v1/watch/%'],
      ['GET', '/v1/resources/Service/%ZZ/x'],
      ['DELETE', '/v1/resources/%C0%AF/default/x'],
      ['GET', '/v1/%FF'],
    ];
    for (const [method, path] of cases) {
      const res = await call<ApiErrorBody>(cp.url, method, path);
      assertApiError(res, 400, 'HYPHAE_ERR_BAD_REQUEST', /invalid percent-encoding/);
    }
    // Well-formed encodings are decoded: %2F in a name is just an invalid name.
    const slash = await call<ApiErrorBody>(cp.url, 'GET', '/v1/resources/Service/default/a%2Fb');
    assertApiError(slash, 400, 'HYPHAE_ERR_BAD_REQUEST', /invalid name "a\/b"/);
  });

  it('answers oversized request targets: 414 for a long query, 431 past the header limit', async () => {
    const long = await call<ApiErrorBody>(cp.url, 'GET', `/v1/watch?services=${'a,'.repeat(5000)}`);
    assertApiError(long, 414, 'HYPHAE_ERR_BAD_REQUEST', /limit is 8192/);
    const huge = await raw(cp.port, `GET /v1/health?x=${'a'.repeat(40_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(huge.status, 431);
    assert.equal(rawError(huge).error.code, 'HYPHAE_ERR_BAD_REQUEST');
  });

  it('answers raw socket garbage and protocol violations with a JSON 4xx and closes', async () => {
    const junk: [string, string | Buffer, number][] = [
      ['text junk', 'GARBAGE\r\n\r\n', 400],
      ['binary junk', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256)), 400],
      ['TLS hello on plain HTTP', Buffer.from('16030100a5010000a10303', 'hex'), 400],
      ['invalid header name', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', 400],
      ['duplicate content-length', 'POST /v1/instances HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400],
      ['content-length and chunked', 'POST /v1/instances HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
      ['bad chunk size', 'PUT /v1/resources HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', 400],
      ['negative content-length', 'POST /v1/instances HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
      ['header overflow', `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['unknown method token', 'BREW /v1/health HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      ['unsupported HTTP version', 'GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n', 400],
    ];
    for (const [name, data, status] of junk) {
      const a = await raw(cp.port, data);
      assert.equal(a.status, status, `${name}: ${a.head}`);
      assert.equal(a.closed, true, `${name}: connection closed`);
      assert.match(rawError(a).error.message, /^malformed HTTP request \(HPE_[A-Z_]+\): /, name);
    }
  });

  it('answers valid HTTP with odd targets or headers in the same JSON shape', async () => {
    const cases: [string, string, number, RegExp][] = [
      ['absolute-form target', 'GET http://example.com/v1/health HTTP/1.1\r\nHost: x\r\n\r\n', 400, /must be a path/],
      ['asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', 400, /must be a path/],
      ['no Host header', 'GET /v1/health HTTP/1.1\r\n\r\n', 400, /must carry a Host header/],
      ['WebDAV method', 'PROPFIND /v1/health HTTP/1.1\r\nHost: x\r\n\r\n', 405, /PROPFIND is not allowed/],
    ];
    for (const [name, data, status, message] of cases) {
      const a = await raw(cp.port, data, { waitMs: 300 });
      assert.equal(a.status, status, `${name}: ${a.head}`);
      assert.match(rawError(a).error.message, message, name);
    }
    const http10 = await raw(cp.port, 'GET /v1/health HTTP/1.0\r\n\r\n');
    assert.equal(http10.status, 200, 'HTTP/1.0 without Host is fine');
  });

  it('survives connections that send half a request, or nothing, and go away', async () => {
    const answers = await Promise.all([
      raw(cp.port, 'POST /v1/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"serv', { end: true }),
      raw(cp.port, 'GET /v1/heal', { end: true }),
      raw(cp.port, '', { end: true }),
      ...Array.from({ length: 20 }, () => raw(cp.port, 'PUT /v1/resources HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ite', { end: true })),
    ]);
    for (const a of answers) assert.ok(a.status === 0 || a.status === 400, a.head);
  });

  it('drops plaintext, a bad TLS hello and a client that distrusts it, without an HTTP answer', async () => {
    const answers = await Promise.all([
      // Plain HTTP to the HTTPS port: the TLS layer refuses it before HTTP.
      rawPlain(cp.port, 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n'),
      rawPlain(cp.port, Buffer.from('16030100a5010000a10303', 'hex')),
      new Promise<string>((resolve) => {
        const s = tls.connect({ port: cp.port, host: '127.0.0.1', servername: 'localhost' });
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      }),
    ]);
    assert.equal(answers[0], '', 'no HTTP answer to plaintext');
    assert.equal(answers[1], '');
    assert.match(answers[2]!, /SELF_SIGNED|UNABLE_TO_VERIFY/);
    assert.equal((await call(cp.url, 'GET', '/v1/health')).status, 200);
  });

  it('is still healthy afterwards, never answered 500, and never exited', async () => {
    const health = await call<{ status: string }>(cp.url, 'GET', '/v1/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    assert.equal(cp.child.proc.exitCode, null);
    assert.equal(cp.child.proc.signalCode, null);
    const errors = cp.child.lines.filter((l) => / error /.test(l) || /HYPHAE_ERR_INTERNAL/.test(l));
    assert.deepEqual(errors, [], 'no unexpected error was logged');
    assert.ok(
      cp.child.lines.some((l) => / reject 413 /.test(l)),
      'rejections are logged',
    );
  });
});
