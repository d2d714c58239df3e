import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import type { Logger } from '../../src/core/logger.js';
import type { InstanceInfo, RegisteredInstance, ServerRegistrar } from '../../src/server/registrar.js';
import { wrapServer, wrappedState, type WrapServerOptions } from '../../src/server/wrap-server.js';

const DRAIN_MS = 200;
const GRACE_MS = 1000;

/** Records everything that happens, with the time since the test started. */
class Timeline {
  #t0 = performance.now();
  events: { name: string; at: number }[] = [];
  mark(name: string): void {
    this.events.push({ name, at: performance.now() - this.#t0 });
  }
  at(name: string): number {
    const e = this.events.find((x) => x.name === name);
    assert.ok(e, `no "${name}" in ${this.names().join(', ')}`);
    return e.at;
  }
  names(): string[] {
    return this.events.map((e) => e.name);
  }
}

class FakeRegistrar implements ServerRegistrar {
  registered: InstanceInfo[] = [];
  deregistered = 0;
  constructor(
    readonly timeline: Timeline,
    readonly deregisterMs = 0,
  ) {}
  async register(info: InstanceInfo): Promise<RegisteredInstance> {
    this.registered.push(info);
    this.timeline.mark('register');
    return {
      id: `${info.address}:${info.port}`,
      deregister: async () => {
        this.deregistered++;
        this.timeline.mark('deregister');
        if (this.deregisterMs > 0) await new Promise((r) => setTimeout(r, this.deregisterMs));
      },
    };
  }
}

function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (msg: string) => void lines.push(`${level} ${msg}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** A drain that regresses into hanging fails the test instead of stalling the suite. */
const BOUNDED = { timeout: 10_000 };

const open: http.Server[] = [];
const agents: http.Agent[] = [];

afterEach(() => {
  for (const a of agents.splice(0)) a.destroy();
  for (const s of open.splice(0)) {
    s.closeAllConnections();
    if (s.listening) http.Server.prototype.close.call(s);
  }
});

function wrapped(handler: http.RequestListener, registrar: ServerRegistrar | undefined, options: WrapServerOptions = {}, logger: Logger = captureLogger()): http.Server {
  const server = http.createServer(handler);
  open.push(server);
  return wrapServer(
    server,
    {
      registrar: async () => registrar,
      logger,
      defaults: { labels: { zone: 'eu-1', version: 'v0' }, drainDelayMs: DRAIN_MS, gracePeriodMs: GRACE_MS },
    },
    options,
  );
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function keepAliveAgent(): http.Agent {
  const a = new http.Agent({ keepAlive: true, maxSockets: 4 });
  agents.push(a);
  return a;
}

interface Reply {
  status: number;
  connection: string | undefined;
  body: string;
}

function get(port: number, path: string, agent: http.Agent, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Resolves with the error code of a TCP connect (undefined if it connected). */
function connectCode(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
  });
}

/** Resolves on the server's 'close' event, marking the moment on the timeline when given one. */
function closed(server: http.Server, tl?: Timeline): Promise<void> {
  return new Promise((resolve) =>
    server.once('close', () => {
      tl?.mark('close event');
      resolve();
    }),
  );
}

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('wrapServer registration', () => {
  it("registers on 'listening' with the bound address and port, mesh labels merged under the server's", BOUNDED, async () => {
    const reg = new FakeRegistrar(new Timeline());
    const server = wrapped((_q, s) => s.end(), reg, { labels: { version: 'v1', tier: 'web' }, weight: 3 });
    const port = await listen(server);
    const instance = await wrappedState(server)!.registered;
    assert.deepEqual(reg.registered, [{ address: '127.0.0.1', port, labels: { zone: 'eu-1', version: 'v1', tier: 'web' }, weight: 3 }]);
    assert.equal(instance?.id, `127.0.0.1:${port}`);
  });

  it('weight defaults to 1 and labels to the mesh labels; advertiseAddress overrides the bound address', BOUNDED, async () => {
    const reg = new FakeRegistrar(new Timeline());
    const server = wrapped((_q, s) => s.end(), reg, { advertiseAddress: '10.9.8.7' });
    const port = await listen(server);
    await wrappedState(server)!.registered;
    assert.deepEqual(reg.registered, [{ address: '10.9.8.7', port, labels: { zone: 'eu-1', version: 'v0' }, weight: 1 }]);
  });

  it('`registered` can be awaited right after listen() and does not register before listening', BOUNDED, async () => {
    const reg = new FakeRegistrar(new Timeline());
    const server = wrapped((_q, s) => s.end(), reg);
    await wait(10);
    assert.equal(reg.registered.length, 0);
    server.listen(0, '127.0.0.1');
    const instance = await wrappedState(server)!.registered;
    assert.ok(instance);
    assert.equal(reg.registered[0]!.port, (server.address() as AddressInfo).port);
  });

  it('register: false serves without registering', BOUNDED, async () => {
    const reg = new FakeRegistrar(new Timeline());
    const server = wrapped((_q, s) => s.end('hi'), reg, { register: false });
    const port = await listen(server);
    assert.equal(await wrappedState(server)!.registered, undefined);
    assert.equal(reg.registered.length, 0);
    assert.equal((await get(port, '/', keepAliveAgent())).body, 'hi');
  });

  it('a failed registration rejects `registered` and is logged, and the server keeps serving', BOUNDED, async () => {
    const logger = captureLogger();
    const failing: ServerRegistrar = { register: async () => Promise.reject(new Error('control plane says no')) };
    const server = wrapped((_q, s) => s.end('still here'), failing, {}, logger);
    const port = await listen(server);
    await assert.rejects(wrappedState(server)!.registered, /control plane says no/);
    assert.ok(
      logger.lines.some((l) => l.startsWith('error ') && l.includes('registration failed')),
      logger.lines.join('\n'),
    );
    assert.equal((await get(port, '/', keepAliveAgent())).body, 'still here');
  });

  it('wrapping twice is a no-op: one registration, each request handled once', BOUNDED, async () => {
    const reg = new FakeRegistrar(new Timeline());
    let calls = 0;
    const server = wrapped((_q, s) => {
      calls++;
      s.end();
    }, reg);
    wrapServer(server, { registrar: async () => reg, logger: captureLogger(), defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 0 } });
    const port = await listen(server);
    await wrappedState(server)!.registered;
    await get(port, '/', keepAliveAgent());
    assert.equal(calls, 1);
    assert.equal(reg.registered.length, 1);
  });
});

describe('wrapServer load shedding', () => {
  it('the event-loop monitor runs only while the server listens (none for a server wrapped and never started)', BOUNDED, async () => {
    const server = wrapped((_q, s) => s.end('ok'), undefined, { eventLoopDelayMs: 50, register: false });
    const shedder = wrappedState(server)!.shedder!;
    assert.equal(shedder.monitoring, false, 'not before listen()');
    await listen(server);
    assert.equal(shedder.monitoring, true);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(shedder.monitoring, false, 'stopped on close');
  });
});

describe('wrapServer request handling', () => {
  it("the application's 'request' listeners, including one added after wrapServer, run unchanged", BOUNDED, async () => {
    const seen: string[] = [];
    let firstReq: http.IncomingMessage | undefined;
    const server = wrapped(function (this: http.Server, req, res) {
      seen.push(`first ${req.method} ${req.url} ${req.headers['x-app']} this=${this === server}`);
      firstReq = req;
      res.setHeader('x-first', '1');
    }, new FakeRegistrar(new Timeline()));
    server.on('request', function (this: http.Server, req, res) {
      seen.push(`late same-req=${req === firstReq} this=${this === server}`);
      res.end(`${res.getHeader('x-first')}:${req.url}`);
    });
    const port = await listen(server);
    const reply = await get(port, '/items?x=1', keepAliveAgent(), { 'x-app': 'hello' });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, '1:/items?x=1');
    assert.deepEqual(seen, ['first GET /items?x=1 hello this=true', 'late same-req=true this=true']);
  });

  it('a listener removed after wrapServer no longer runs', BOUNDED, async () => {
    const calls: string[] = [];
    const server = wrapped(() => {}, undefined, { register: false });
    const extra = () => calls.push('extra');
    server.on('request', extra);
    server.on('request', (_q, s) => s.end());
    server.off('request', extra);
    const port = await listen(server);
    await get(port, '/', keepAliveAgent());
    assert.deepEqual(calls, []);
  });

  it('other events are emitted as usual', BOUNDED, async () => {
    const server = wrapped((_q, s) => s.end(), undefined, { register: false });
    let connections = 0;
    server.on('connection', () => connections++);
    const port = await listen(server);
    await get(port, '/', keepAliveAgent());
    assert.equal(connections, 1);
  });

  it('outside a drain, responses keep the connection alive', BOUNDED, async () => {
    const server = wrapped((_q, s) => s.end('ok'), new FakeRegistrar(new Timeline()));
    const port = await listen(server);
    assert.equal((await get(port, '/', keepAliveAgent())).connection, 'keep-alive');
  });
});

describe('wrapServer close: graceful drain', () => {
  it('deregisters first, keeps answering with `connection: close` for drainDelayMs, then stops listening and closes', BOUNDED, async () => {
    const tl = new Timeline();
    const reg = new FakeRegistrar(tl);
    const server = wrapped((req, res) => {
      tl.mark(`request ${req.url}`);
      res.end('ok');
    }, reg);
    const port = await listen(server);
    await wrappedState(server)!.registered;
    const agent = keepAliveAgent();
    assert.equal((await get(port, '/before', agent)).connection, 'keep-alive');
    // An idle keep-alive connection from another client: close must not wait for it.
    const idleAgent = keepAliveAgent();
    await get(port, '/idle', idleAgent);

    const isClosed = closed(server, tl);
    let callbackCalls = 0;
    tl.mark('close()');
    const returned = server.close(() => {
      callbackCalls++;
      tl.mark('close callback');
    });
    assert.equal(returned, server);

    await wait(DRAIN_MS / 2);
    assert.equal(server.listening, true, 'still listening during the drain delay');
    const during = await get(port, '/during', agent);
    tl.mark('reply during drain');
    assert.equal(during.status, 200);
    assert.equal(during.body, 'ok');
    assert.equal(during.connection, 'close');
    const fresh = await get(port, '/fresh', keepAliveAgent());
    assert.equal(fresh.connection, 'close', 'a new connection is accepted and told to close');

    await isClosed;
    await wait(0);
    assert.equal(server.listening, false);
    assert.equal(await connectCode(port), 'ECONNREFUSED');
    assert.equal(callbackCalls, 1);
    assert.equal(reg.deregistered, 1);

    assert.deepEqual(tl.names(), ['register', 'request /before', 'request /idle', 'close()', 'deregister', 'request /during', 'reply during drain', 'request /fresh', 'close event', 'close callback']);
    const start = tl.at('close()');
    assert.ok(tl.at('deregister') - start < 50, 'deregister is the first thing close() does');
    const closedAfter = tl.at('close event') - start;
    assert.ok(closedAfter >= DRAIN_MS - 5, `closed after ${closedAfter} ms, before the drain delay`);
    assert.ok(closedAfter < GRACE_MS - 200, `closed after ${closedAfter} ms: an idle connection held it`);
  });

  it('the drain delay starts once deregistration is done', BOUNDED, async () => {
    const tl = new Timeline();
    const reg = new FakeRegistrar(tl, 150);
    const server = wrapped((_q, s) => s.end(), reg);
    await listen(server);
    await wrappedState(server)!.registered;
    const isClosed = closed(server, tl);
    tl.mark('close()');
    server.close();
    await isClosed;
    const took = tl.at('close event') - tl.at('close()');
    assert.ok(took >= 150 + DRAIN_MS - 5, `closed after ${took} ms`);
    assert.ok(took < GRACE_MS, `closed after ${took} ms`);
  });

  it('a request that hangs is cut at gracePeriodMs; the server stops listening after the drain delay meanwhile', BOUNDED, async () => {
    const tl = new Timeline();
    let arrived!: () => void;
    const hangArrived = new Promise<void>((r) => (arrived = r));
    const server = wrapped((req) => {
      if (req.url === '/hang') arrived();
    }, new FakeRegistrar(tl));
    const port = await listen(server);
    await wrappedState(server)!.registered;
    const hung = get(port, '/hang', keepAliveAgent()).then(
      () => 'answered',
      (e: NodeJS.ErrnoException) => {
        tl.mark('hung request cut');
        return e.code ?? e.message;
      },
    );
    await hangArrived;

    const isClosed = closed(server, tl);
    let callback = false;
    tl.mark('close()');
    server.close(() => (callback = true));

    await wait(DRAIN_MS + 100);
    assert.equal(server.listening, false, 'stopped listening after the drain delay');
    assert.equal(await connectCode(port), 'ECONNREFUSED');
    assert.equal(callback, false, 'not closed while the request is still open');

    assert.equal(await hung, 'ECONNRESET');
    await isClosed;
    assert.equal(callback, true);
    const start = tl.at('close()');
    const cut = tl.at('hung request cut') - start;
    const closedAt = tl.at('close event') - start;
    assert.ok(cut >= GRACE_MS - 20 && cut < GRACE_MS + 300, `cut after ${cut} ms`);
    assert.ok(closedAt >= GRACE_MS - 20 && closedAt < GRACE_MS + 300, `closed after ${closedAt} ms`);
  });

  it('a deregistration that never finishes does not hold close() beyond the grace period', BOUNDED, async () => {
    const hanging: ServerRegistrar = {
      register: async (info) => ({ id: `${info.address}:${info.port}`, deregister: () => new Promise<void>(() => {}) }),
    };
    const server = wrapped((_q, s) => s.end(), hanging);
    await listen(server);
    await wrappedState(server)!.registered;
    const t0 = performance.now();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const took = performance.now() - t0;
    assert.ok(took >= GRACE_MS - 20 && took < GRACE_MS + 300, `closed after ${took} ms`);
  });

  it('close() twice during a drain: one deregistration, both callbacks called', BOUNDED, async () => {
    const reg = new FakeRegistrar(new Timeline());
    const server = wrapped((_q, s) => s.end(), reg);
    await listen(server);
    await wrappedState(server)!.registered;
    const calls: string[] = [];
    const both = new Promise<void>((resolve) => {
      server.close(() => calls.push('a'));
      server.close(() => {
        calls.push('b');
        resolve();
      });
    });
    await both;
    assert.deepEqual(calls, ['a', 'b']);
    assert.equal(reg.deregistered, 1);
  });

  it('close() on a server that is not listening behaves like http.Server#close (callback gets ERR_SERVER_NOT_RUNNING)', BOUNDED, async () => {
    const reg = new FakeRegistrar(new Timeline());
    const server = wrapped((_q, s) => s.end(), reg);
    const err = await new Promise<Error | undefined>((resolve) => server.close((e) => resolve(e)));
    assert.equal((err as NodeJS.ErrnoException | undefined)?.code, 'ERR_SERVER_NOT_RUNNING');
    assert.equal(reg.deregistered, 0);
  });

  it('a server that listens again after close() registers again and can be closed again', BOUNDED, async () => {
    const tl = new Timeline();
    const reg = new FakeRegistrar(tl);
    const server = wrapped((_q, s) => s.end('ok'), reg);
    await listen(server);
    await wrappedState(server)!.registered;
    await new Promise<void>((resolve) => server.close(() => resolve()));

    const port = await listen(server);
    await wrappedState(server)!.registered;
    assert.equal(reg.registered.length, 2);
    assert.equal(reg.registered[1]!.port, port);
    assert.equal((await get(port, '/', keepAliveAgent())).connection, 'keep-alive', 'not draining any more');

    const closedAgain = await Promise.race([new Promise<boolean>((resolve) => server.close(() => resolve(true))), wait(DRAIN_MS + 800).then(() => false)]);
    assert.equal(closedAgain, true, 'second close() finished');
    assert.equal(reg.deregistered, 2);
  });
});
