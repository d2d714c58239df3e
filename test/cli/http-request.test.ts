/**
 * The CLI's requests to the control plane (src/cli/http-request.ts, node:http in place of undici) against
 * real loopback servers: a peer that never answers and one that stops mid-body are cut at their timeouts
 * with the codes connection-hint.ts reads; one that closes mid-body and one that sends more than the limit
 * fail the read; one that half-closes without a whole answer fails the request at once; a kept-alive
 * socket goes back to its agent with no timer on it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { after, before, it } from 'node:test';
import { agentFor, CliAnswerTooLargeError, CliTimeoutError, readText, send } from '../../src/cli/http-request.js';
import { connectionHint } from '../../src/cli/connection-hint.js';

let server: http.Server;
let origin: string;
const sockets = new Set<Socket>();

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/silent') return; // never answers
    if (req.url === '/cut') {
      // A length promised, half of it sent, then the connection closed.
      res.writeHead(200, { 'content-length': '100' });
      res.write('x'.repeat(50), () => res.socket?.destroy());
      return;
    }
    if (req.url === '/big') {
      res.end('y'.repeat(4096));
      return;
    }
    if (req.url === '/stall') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part'); // and never the rest
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => res.end(JSON.stringify({ method: req.method, body, length: req.headers['content-length'] ?? null })));
  });
  server.on('connection', (s: Socket) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const timeouts = { headersTimeoutMs: 300, bodyTimeoutMs: 300 };

it('sends the body with its length and reads the answer; two requests share one kept-alive connection with no timer left on it', async () => {
  const agent = agentFor(origin, undefined);
  try {
    const first = await send(origin, agent, { method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: '{"é":1}', ...timeouts });
    assert.deepEqual(JSON.parse(await readText(first)), { method: 'POST', body: '{"é":1}', length: String(Buffer.byteLength('{"é":1}')) });
    const socket = first.socket;
    assert.equal(socket?.timeout ?? 0, 0, 'the body timer is taken off the socket when the answer ends');
    const second = await send(origin, agent, { method: 'GET', path: '/echo?x=1', headers: {}, ...timeouts });
    assert.equal(JSON.parse(await readText(second)).method, 'GET');
    assert.equal(second.socket, socket, 'the second request reused the connection');
  } finally {
    agent.destroy();
  }
});

it('a server that never answers: HEADERS_TIMEOUT, and the hint says so', async () => {
  const agent = agentFor(origin, undefined);
  try {
    const err = await send(origin, agent, { method: 'GET', path: '/silent', headers: {}, ...timeouts }).then(
      () => assert.fail('answered'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CliTimeoutError);
    assert.equal(err.code, 'HEADERS_TIMEOUT');
    assert.match(connectionHint(origin, err, false) ?? '', /^no answer within 10 s/);
  } finally {
    agent.destroy();
  }
});

it('a body that stops: BODY_TIMEOUT while reading it', async () => {
  const agent = agentFor(origin, undefined);
  try {
    const res = await send(origin, agent, { method: 'GET', path: '/stall', headers: {}, ...timeouts });
    const err = await readText(res).then(
      () => assert.fail('read to the end'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CliTimeoutError);
    assert.equal(err.code, 'BODY_TIMEOUT');
  } finally {
    agent.destroy();
  }
});

it('a body cut short by the peer fails the read; one larger than the limit is cut at the limit', async () => {
  const agent = agentFor(origin, undefined);
  try {
    const cut = await send(origin, agent, { method: 'GET', path: '/cut', headers: {}, ...timeouts });
    await assert.rejects(readText(cut), (err: Error & { code?: string }) => err.code === 'ECONNRESET' || /aborted/.test(err.message));
    const big = await send(origin, agent, { method: 'GET', path: '/big', headers: {}, ...timeouts });
    await assert.rejects(readText(big, 1024), (err: unknown) => err instanceof CliAnswerTooLargeError && err.code === 'ANSWER_TOO_LARGE');
    const fits = await send(origin, agent, { method: 'GET', path: '/big', headers: {}, ...timeouts });
    assert.equal((await readText(fits, 4096)).length, 4096);
  } finally {
    agent.destroy();
  }
});

it('a peer that half-closes without a whole answer (nothing, or part of a status line) fails the request at once, not at a timeout', async () => {
  const raw = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.once('data', (d: Buffer) => {
      // Its FIN, and it stays open for reading: the client must not wait on it for an answer.
      if (d.toString('latin1').startsWith('GET /partial')) socket.end('HTTP/1.1 20');
      else socket.end();
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  const rawOrigin = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  const agent = agentFor(rawOrigin, undefined);
  try {
    for (const path of ['/nothing', '/partial']) {
      // A long headers timeout: the failure must come from the half-close, not from the timer.
      const err = await send(rawOrigin, agent, { method: 'GET', path, headers: {}, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 }).then(
        () => assert.fail(`${path}: answered`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof Error && !(err instanceof CliTimeoutError), `${path}: ${String(err)}`);
    }
  } finally {
    agent.destroy();
    await new Promise((resolve) => raw.close(resolve));
  }
});
