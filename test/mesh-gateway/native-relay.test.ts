/**
 * The native relay (native/tcp-relay.c through NativeRelay) on real sockets, without the listener: a
 * "gateway" holds two sockets (one accepted from a caller, one connected to a server) and hands them
 * over; the caller and the server are the two ends the test watches. Bytes exact both ways under load and
 * with a half-close, bytes Node had read before the handover first, backpressure without loss, a reset
 * passed on, a cut, descriptors given back, and bad arguments refused.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadNativeRelay, NativeRelay, type RelayEnd } from '../../src/mesh-gateway/native-relay.js';
import { relay as relayInNode } from '../../src/mesh-gateway/relay.js';
import { fdCount, waitUntil, within } from '../helpers/hostile-peers.js';

const BOUND_MS = 20_000;

interface Ends {
  /** The caller's socket, and the server's accepted one: the pair's two far ends. */
  caller: net.Socket;
  server: net.Socket;
  /** The gateway's two sockets, to hand over. */
  accepted: net.Socket;
  upstream: net.Socket;
}

function listen(onConnection: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function port(server: net.Server): number {
  return (server.address() as AddressInfo).port;
}

function connect(p: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: p, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

function once<T>(emit: (resolve: (v: T) => void) => void): Promise<T> {
  return new Promise(emit);
}

/** Everything a socket reads until its end, and whether it ended (a FIN) or closed with an error. */
function collect(s: net.Socket): Promise<{ bytes: Buffer; how: 'end' | 'error' }> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    s.once('end', () => resolve({ bytes: Buffer.concat(chunks), how: 'end' }));
    s.once('error', () => resolve({ bytes: Buffer.concat(chunks), how: 'error' }));
  });
}

/** Bytes that a lost, doubled or reordered chunk would change: i mod a prime. */
function pattern(length: number, prime: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = i % prime;
  return b;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('native relay', () => {
  const loaded = loadNativeRelay();
  let relay: NativeRelay;
  let front: net.Server;
  let back: net.Server;
  const acceptedQ: net.Socket[] = [];
  const serverQ: net.Socket[] = [];

  before(async () => {
    assert.ok('binding' in loaded, `the addon must load here (npm run build makes it): ${'error' in loaded ? loaded.error : ''}`);
    relay = new NativeRelay(loaded.binding, 60_000);
    front = await listen((s) => acceptedQ.push(s.pause()));
    back = await listen((s) => serverQ.push(s));
  });
  after(async () => {
    await relay.close();
    await new Promise((resolve) => front.close(resolve));
    await new Promise((resolve) => back.close(resolve));
  });

  async function pair(): Promise<Ends> {
    const caller = await connect(port(front));
    await waitUntil(() => acceptedQ.length > 0, BOUND_MS, 'accepted');
    const upstream = await connect(port(back));
    await waitUntil(() => serverQ.length > 0, BOUND_MS, 'the server accepted');
    return { caller, accepted: acceptedQ.shift()!, upstream, server: serverQ.shift()! };
  }

  /** Hands the pair over as the listener does (and closes the gateway's own sockets); resolves the end's reason. */
  async function handOver(e: Ends, first = Buffer.alloc(0)): Promise<{ end: Promise<RelayEnd> }> {
    let ended!: (r: RelayEnd) => void;
    const end = new Promise<RelayEnd>((resolve) => (ended = resolve));
    assert.equal(await relay.handOver(e.accepted, e.upstream, first, ended, 60_000), 'held');
    e.accepted.destroy();
    e.upstream.destroy();
    return { end };
  }

  it('moves 8 MiB each way at once, byte for byte, and passes each FIN on', async () => {
    const e = await pair();
    const { end } = await handOver(e);
    const up = pattern(8 << 20, 251);
    const down = pattern(8 << 20, 253);
    const atServer = collect(e.server);
    const atCaller = collect(e.caller);
    e.caller.end(up);
    // The server ends only once it has read the caller's FIN: a half-close held open meanwhile.
    void atServer.then(() => e.server.end(down));
    const [s, c] = await Promise.all([atServer, atCaller]);
    assert.equal(s.how, 'end');
    assert.equal(sha(s.bytes), sha(up), `the server got ${s.bytes.length} of ${up.length} bytes`);
    assert.equal(c.how, 'end');
    assert.equal(sha(c.bytes), sha(down), `the caller got ${c.bytes.length} of ${down.length} bytes`);
    assert.equal(await within(end, BOUND_MS), 'done');
  });

  it('sends what Node read before the handover first, in order, both ways', async () => {
    const e = await pair();
    const atServer = collect(e.server);
    const atCaller = collect(e.caller);
    e.caller.write('early from the caller;');
    e.server.write('early from the server;');
    // Both early writes are in the gateway's sockets before the handover (Node read them, no one took them).
    await waitUntil(() => e.accepted.readableLength > 0 && e.upstream.readableLength > 0, BOUND_MS, 'Node read both');
    const { end } = await handOver(e, Buffer.from('first;'));
    e.caller.end('late from the caller');
    void atServer.then(() => e.server.end('late from the server'));
    assert.equal((await atServer).bytes.toString(), 'first;early from the caller;late from the caller');
    assert.equal((await atCaller).bytes.toString(), 'early from the server;late from the server');
    assert.equal(await within(end, BOUND_MS), 'done');
  });

  it('holds back under backpressure: a reader that stops stalls the writer, and nothing is lost when it reads again', async () => {
    const e = await pair();
    const { end } = await handOver(e);
    e.server.pause();
    const total = 32 << 20;
    const data = pattern(total, 255);
    e.caller.write(data, () => {});
    e.caller.end();
    // The caller's socket keeps most of its 32 MiB: the relay stopped reading it once the server's side was full.
    await waitUntil(() => e.caller.writableLength > 0, BOUND_MS, 'the caller stalled');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stalled = e.caller.writableLength > total / 4;
    const atServer = collect(e.server);
    e.server.resume();
    const got = await atServer;
    assert.ok(stalled, `the caller still held ${e.caller.writableLength} bytes while the server read nothing`);
    assert.equal(got.bytes.length, total);
    assert.equal(sha(got.bytes), sha(data));
    e.server.end();
    assert.equal(await within(end, BOUND_MS), 'done');
  });

  it("passes a reset on: the server's RST closes the caller's side, and the pair ends as an error", async () => {
    const e = await pair();
    const { end } = await handOver(e);
    const atCaller = collect(e.caller);
    e.caller.on('close', () => {});
    e.server.write('a little');
    await waitUntil(() => e.caller.bytesRead >= 8, BOUND_MS, 'bytes through first');
    e.server.resetAndDestroy();
    const c = await within(atCaller, BOUND_MS);
    assert.ok(c !== undefined, 'the caller saw its side go');
    assert.equal(await within(end, BOUND_MS), 'error');
  });

  it('passes on a reset that comes after the FIN: the pair ends as an error, not at the idle timeout', async () => {
    const e = await pair();
    const { end } = await handOver(e);
    const atCaller = collect(e.caller);
    e.server.end('bye');
    // The caller holds its half open and says nothing: only the server's reset can end the pair now.
    assert.equal((await within(atCaller, BOUND_MS))?.bytes.toString(), 'bye');
    e.server.resetAndDestroy();
    assert.equal(await within(end, BOUND_MS), 'error', 'ended by the reset (the idle timeout is 60 s)');
    e.caller.destroy();
  });

  it('a handover the addon refuses leaves both sockets to Node, reading again, the first bytes sent', async () => {
    assert.ok('binding' in loaded);
    const refusing = new NativeRelay(
      {
        ...loaded.binding,
        add: () => {
          throw new Error('EMFILE (as a dup() with no descriptor left)');
        },
      },
      60_000,
    );
    try {
      const e = await pair();
      const atServer = collect(e.server);
      const atCaller = collect(e.caller);
      e.caller.write('early;');
      await waitUntil(() => e.accepted.readableLength > 0, BOUND_MS, 'Node read it');
      assert.equal(await refusing.handOver(e.accepted, e.upstream, Buffer.from('first;'), () => {}, 60_000), 'refused');
      relayInNode(e.accepted, e.upstream);
      relayInNode(e.upstream, e.accepted);
      e.accepted.resume();
      e.caller.end('late');
      void atServer.then(() => e.server.end('answer'));
      assert.equal((await within(atServer, BOUND_MS))?.bytes.toString(), 'first;early;late');
      assert.equal((await within(atCaller, BOUND_MS))?.bytes.toString(), 'answer');
      e.accepted.destroy();
      e.upstream.destroy();
    } finally {
      await refusing.close();
    }
  });

  it('cuts every pair it holds on cutAll, and gives every descriptor back', async () => {
    const baseline = fdCount(process.pid);
    const pairs = await Promise.all(Array.from({ length: 20 }, () => pair()));
    const ends = (await Promise.all(pairs.map((e) => handOver(e)))).map((h) => h.end);
    // A FIN (the relay closed its side) or a reset: either way the caller's side went.
    const closed = pairs.map((e) =>
      once<void>((resolve) =>
        e.caller
          .on('end', () => resolve())
          .on('close', () => resolve())
          .on('error', () => {}),
      ),
    );
    for (const e of pairs) e.server.on('error', () => {});
    assert.equal(relay.size, 20);
    relay.cutAll();
    assert.deepEqual(await Promise.all(ends), Array(20).fill('cut'));
    await relay.whenEmpty();
    assert.ok(await within(Promise.all(closed), BOUND_MS), 'every caller saw its pair cut');
    for (const e of pairs) e.caller.destroy();
    for (const e of pairs) e.server.destroy();
    await waitUntil(() => fdCount(process.pid) <= baseline, BOUND_MS, `descriptors back to ${baseline}`);
  });

  it('refuses bad arguments with a clear error', () => {
    assert.ok('binding' in loaded);
    const b = loaded.binding;
    assert.throws(() => b.create(0, () => {}), /idleMs must be a number >= 1/);
    assert.throws(() => b.create(1000, 'no' as unknown as () => void), /onDone must be a function/);
    assert.throws(() => b.add({}, 1, 2), /not a running relay/);
    assert.throws(() => b.cutAll({}), /not a relay/);
  });
});
