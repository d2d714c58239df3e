/**
 * The figures core/listener-guard.ts derives: the default connection cap from
 * the open-file limit, and how often Node is made to look for expired
 * requests; and the one behaviour of Node's that every listener relies on for
 * silent peers, instead of a deadline of its own. The listeners' behaviour on
 * real sockets is proven in test/control-plane/listeners.test.ts,
 * test/server/listener-limits.test.ts and test/proxy/outbound-listener.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import tls from 'node:tls';
import { applyHttpTimeouts, checkingIntervalMs, DEFAULT_MAX_CONNECTIONS, maxConnectionsFor, openFileLimit } from '../../src/core/listener-guard.js';
import { waitUntil, watchPeer, within } from '../helpers/hostile-peers.js';
import { Pki } from '../helpers/pki.js';

it('keeps the default cap below the open-file limit, with a reserve for everything else', () => {
  assert.equal(maxConnectionsFor(undefined), DEFAULT_MAX_CONNECTIONS, 'unknown limit (not Linux): the fixed default');
  assert.equal(maxConnectionsFor(1_048_576), DEFAULT_MAX_CONNECTIONS);
  assert.equal(maxConnectionsFor(200), 136, '64 kept for files, the store, outgoing calls');
  assert.equal(maxConnectionsFor(1024), 921, 'a tenth kept');
  assert.equal(maxConnectionsFor(4096), 3686);
  assert.equal(maxConnectionsFor(20), 16, 'never below 16');
});

it('reads the soft open-file limit from /proc/<pid>/limits', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-limits-'));
  try {
    const file = path.join(dir, 'limits');
    await writeFile(file, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            200                  4096                 files\n');
    assert.equal(openFileLimit(file), 200);
    await writeFile(file, 'Max open files            unlimited            unlimited            files\n');
    assert.equal(openFileLimit(file), undefined);
    assert.equal(openFileLimit(path.join(dir, 'missing')), undefined);
    if (process.platform === 'linux') assert.ok(openFileLimit()! > 0, 'this process has one');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('checks for expired requests a tenth of the shorter timeout, between 25 ms and 1 s', () => {
  assert.equal(checkingIntervalMs(10_000, 30_000), 1_000, "Node's default is 30 s: a 10 s timeout fired at 10..40 s");
  assert.equal(checkingIntervalMs(1_000, 2_000), 100);
  assert.equal(checkingIntervalMs(100, 100), 25);
  assert.equal(checkingIntervalMs(0, 5_000), 500, '0 is off, not the shortest');
  assert.equal(checkingIntervalMs(0, 0), 1_000);
});

it("times a connection's first request from the moment HTTP gets the socket: a silent peer is answered 408 at the header timeout, in plain HTTP and after a TLS handshake", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-silent-'));
  const servers: http.Server[] = [];
  const mutes: net.Socket[] = [];
  try {
    const { cert, key } = await new Pki(dir).selfSignedCa('listener');
    const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('ok');
    servers.push(http.createServer(handler), https.createServer({ cert: await readFile(cert), key: await readFile(key) }, handler));
    const ports: number[] = [];
    for (const s of servers) {
      applyHttpTimeouts(s, 500, 1_000);
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      ports.push((s.address() as AddressInfo).port);
    }
    const plain = (port: number) =>
      new Promise<net.Socket>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
      });
    const secure = (port: number) =>
      new Promise<net.Socket>((resolve) => {
        const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(s));
      });
    const readers = [watchPeer(await plain(ports[0]!)), watchPeer(await secure(ports[1]!))];
    // Peers that read nothing: the unread 408 keeps their sockets from ever emitting 'end' or 'close' (what
    // made a silent peer look held for ever), while the servers have long let go of theirs.
    mutes.push(await plain(ports[0]!), await secure(ports[1]!));
    for (const m of mutes) m.on('error', () => {});
    const ended = await within(Promise.all(readers.map((r) => r.endedByServer)), 10_000);
    assert.ok(ended, `a silent peer is still connected after 10 s; they got ${JSON.stringify(readers.map((r) => r.received()))}`);
    for (const r of readers) assert.match(r.received(), /^HTTP\/1\.1 408 /);
    const open = () => Promise.all(servers.map((s) => new Promise<number>((resolve, reject) => s.getConnections((err, n) => (err ? reject(err) : resolve(n))))));
    await waitUntil(async () => (await open()).every((n) => n === 0), 5_000, 'every server socket destroyed');
    assert.deepEqual(
      mutes.map((m) => m.destroyed),
      [false, false],
      'the peers that read nothing still hold their ends',
    );
  } finally {
    for (const m of mutes) m.destroy();
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await rm(dir, { recursive: true, force: true });
  }
});
