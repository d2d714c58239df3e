/**
 * Issue 17, peering with real processes: two control planes (`--cluster dc1`, `--cluster dc2`), each
 * with its own intermediate CA under one root made here with openssl. dc2 exports `api` and `echo` (not
 * `secret-svc`); dc1 peers with dc2's token and pushes dc2's instances to its own watchers, tagged
 * `cluster: dc2`. dc2 killed: dc1 keeps what it imported, and its age grows; dc2 back on the same port:
 * the link comes back; the peering deleted on dc2: the link is cut and refused. A mesh call from a dc1
 * workload to a dc2 one over mTLS (flat network, loopback) shows the caller's dc1 identity to the server.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { createMesh, getPeer, type Mesh } from '../../../src/index.js';
import type { Instance } from '../../../src/config/instance.js';
import { call, makeTempDir, register, startControlPlane, watch, type RunningControlPlane, type Watcher } from '../../helpers/control-plane.js';
import { runCli } from '../../helpers/cli.js';
import { apply, meta } from '../../helpers/gateway.js';
import { Pki } from '../../helpers/pki.js';
import { waitUntil } from '../../helpers/services.js';

interface Row {
  peer: string;
  direction: string;
  state: string;
  ageSeconds?: number;
  lastError?: string;
  lastSyncAt?: string;
  confirmedAt?: string;
  importedServices?: string[];
  importedInstances?: number;
  streams?: number;
}

let work: string;
let dirs: { dc1: string; dc2: string };
let cas: { dc1: string[]; dc2: string[] };
let dc1: RunningControlPlane;
let dc2: RunningControlPlane;
let dc1Watch: Watcher;
const meshes: Mesh[] = [];
const servers: http.Server[] = [];

const exportOf = (name: string) => ({ apiVersion: 'hyphae.dev/v1', kind: 'ServiceExport', metadata: meta(name) });
const fromDc2 = (s: { instances: Instance[] }) => s.instances.filter((i) => i.cluster === 'dc2');

async function peers(cp: RunningControlPlane): Promise<Row[]> {
  const res = await call<{ peerings: Row[] }>(cp.url, 'GET', '/v1/peerings');
  assert.equal(res.status, 200, res.text);
  return res.body.peerings;
}

// dc2 sends a heartbeat on its streams each second (15 s by default): a link up with nothing to change
// confirms dc1's imports at that pace.
const HEARTBEAT_MS = 1000;

function startCluster(name: 'dc1' | 'dc2', port = 0): Promise<RunningControlPlane> {
  return startControlPlane({ dataDir: dirs[name], args: ['--cluster', name, ...cas[name], '--heartbeat-ms', String(HEARTBEAT_MS), ...(port ? ['--port', String(port)] : [])] });
}

before(async () => {
  work = await makeTempDir('hyphae-peering-');
  const pki = new Pki(work);
  const root = await pki.selfSignedCa('root');
  const rootPem = await readFile(root.cert, 'utf8');
  cas = { dc1: [], dc2: [] };
  for (const dc of ['dc1', 'dc2'] as const) {
    const inter = await pki.keyAndCsr(`${dc}-inter`, `${dc} intermediate`);
    const cert = await pki.sign(inter.csr, root, { ca: true }, `${dc}-inter.pem`, 2);
    const chain = path.join(work, `${dc}-chain.pem`);
    await writeFile(chain, (await readFile(cert, 'utf8')) + rootPem);
    cas[dc] = ['--ca-cert', chain, '--ca-key', inter.key];
  }
  dirs = { dc1: await makeTempDir('hyphae-dc1-'), dc2: await makeTempDir('hyphae-dc2-') };
  [dc1, dc2] = await Promise.all([startCluster('dc1'), startCluster('dc2')]);
});

after(async () => {
  await dc1Watch?.close();
  for (const m of meshes) await m.close().catch(() => {});
  for (const s of servers) s.closeAllConnections();
  await Promise.all([dc1?.stop(), dc2?.stop()]);
  await Promise.all([work, dirs?.dc1, dirs?.dc2].filter(Boolean).map((d) => rm(d!, { recursive: true, force: true })));
});

it('ServiceExport is a resource like the others: applied, listed, validated, in the JSON Schema, deleted', async () => {
  await apply(dc2, exportOf('api'), exportOf('echo'));
  const got = await runCli(['get', 'serviceexports', ...dc2.cliFlags]);
  assert.equal(got.code, 0, got.stderr);
  assert.match(got.stdout, /default\s+api/);
  assert.match(got.stdout, /default\s+echo/);
  const bad = await call(dc2.url, 'PUT', '/v1/resources', { items: [{ ...exportOf('x'), spec: { ports: [1] } }] });
  assert.equal(bad.status, 400, bad.text);
  const schema = await runCli(['schema', '--kind', 'ServiceExport']);
  assert.equal(schema.code, 0, schema.stderr);
  assert.match(schema.stdout, /"const": "ServiceExport"/);
  await apply(dc2, exportOf('tmp'));
  const del = await call(dc2.url, 'DELETE', '/v1/resources/ServiceExport/default/tmp');
  assert.equal(del.status, 200, del.text);
});

it('peers by token: dc1 sees the instances of what dc2 exports, tagged cluster dc2, and nothing of what it does not', async () => {
  await register(dc2.url, { service: 'api', address: '127.0.0.1', port: 7001, ttlSeconds: 300 });
  await register(dc2.url, { service: 'api', address: '127.0.0.1', port: 7002, ttlSeconds: 300 });
  await register(dc2.url, { service: 'secret-svc', address: '127.0.0.1', port: 7003, ttlSeconds: 300 });
  dc1Watch = await watch(dc1.url, ['api', 'secret-svc']);

  // Peering with one's own name is refused at both ends.
  const self = await runCli(['cluster', 'peering-token', '--peer', 'dc2', ...dc2.cliFlags]);
  assert.equal(self.code, 1);
  assert.match(self.stderr, /own name/);

  const made = await runCli(['cluster', 'peering-token', '--peer', 'dc1', ...dc2.cliFlags]);
  assert.equal(made.code, 0, made.stderr);
  const tokenFile = path.join(work, 'peering-token');
  await writeFile(tokenFile, made.stdout);
  // dc2's own token, used on dc2: a cluster does not peer with itself.
  const own = await call(dc2.url, 'POST', '/v1/peerings', { token: made.stdout.trim() });
  assert.equal(own.status, 400, own.text);
  assert.match(own.text, /HYPHAE_ERR_PEERING_TOKEN_INVALID/);

  const used = await runCli(['cluster', 'peer', '--token-from', tokenFile, ...dc1.cliFlags]);
  assert.equal(used.code, 0, used.stderr);
  const api = await dc1Watch.waitForService('api', (s) => fromDc2(s).length === 2, 20_000);
  assert.deepEqual(
    fromDc2(api)
      .map((i) => i.port)
      .sort(),
    [7001, 7002],
  );
  assert.ok(api.exists);

  const [row] = await peers(dc1);
  assert.equal(row!.state, 'connected');
  assert.deepEqual(row!.importedServices!.sort(), ['default/api', 'default/echo']);
  const [exporting] = await peers(dc2);
  assert.equal(exporting!.direction, 'exporting');
  assert.equal(exporting!.streams, 1);
  // secret-svc is not exported: dc1 knows nothing of it.
  const secret = dc1Watch.latest('secret-svc');
  assert.ok(secret, 'dc1 answered for secret-svc');
  assert.equal(secret.instances.length, 0);
  assert.equal(secret.exists, false);

  // Exported with no instance yet: it exists for dc1 (its callers wait for endpoints, not "no such service").
  await dc1Watch.update(['echo']);
  const echo = await dc1Watch.waitForService('echo');
  assert.equal(echo.exists, true);
  assert.equal(echo.instances.length, 0);

  // A change on dc2 reaches dc1's watchers.
  await register(dc2.url, { service: 'api', address: '127.0.0.1', port: 7004, ttlSeconds: 300 });
  await dc1Watch.waitForService('api', (s) => fromDc2(s).length === 3, 20_000);
  const table = await runCli(['cluster', 'peers', ...dc1.cliFlags]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /dc2\s+importing\s+connected/);
});

it('a mesh call from a dc1 workload reaches a dc2 instance over mTLS, and the server sees the dc1 caller', async () => {
  const echoMesh = await createMesh(await dc2.meshOptions('echo'));
  meshes.push(echoMesh);
  const server = echoMesh.wrapServer(http.createServer((req, res) => res.end(JSON.stringify({ peer: getPeer(req)?.id ?? null, tls: 'encrypted' in req.socket }))));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await echoMesh.registered(server);
  const port = (server.address() as AddressInfo).port;
  await dc1Watch.update(['echo']);
  await dc1Watch.waitForService('echo', (s) => fromDc2(s).some((i) => i.port === port), 20_000);

  const web = await createMesh(await dc1.meshOptions('web'));
  meshes.push(web);
  const res = await web.request('http://echo/who');
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { peer: string; tls: boolean };
  assert.equal(body.tls, true);
  assert.match(body.peer, /\/ns\/default\/sa\/web$/);
});

it('a link up with nothing to change keeps the imports current: their age counts from its last heartbeat, not from the last update', async () => {
  const [synced] = await peers(dc1);
  const lastSync = Date.parse(synced!.lastSyncAt!);
  // Nothing changes on dc2 from here: wait until the last update is older than several heartbeats.
  await waitUntil(async () => Date.now() - lastSync > 5 * HEARTBEAT_MS, 20_000);
  const [row] = await peers(dc1);
  assert.equal(row!.state, 'connected');
  assert.equal(row!.lastSyncAt, synced!.lastSyncAt, 'no update came meanwhile');
  assert.ok(Date.parse(row!.confirmedAt!) > lastSync, `confirmed after the update: ${JSON.stringify(row)}`);
  // Heartbeats each second (and one missed under load): well under the 5 s since the update.
  assert.ok(row!.ageSeconds! <= 3.5, `the imports' age counts from the link's last heartbeat: ${JSON.stringify(row)}`);
});

it('dc2 killed: dc1 keeps the imports (fail-static) and shows their age; dc2 back: the link comes back', async () => {
  const port = dc2.port;
  await dc2.stop('SIGKILL');
  await waitUntil(async () => (await peers(dc1))[0]!.state !== 'connected', 20_000);
  const [down] = await peers(dc1);
  const age = down!.ageSeconds!;
  await waitUntil(async () => (await peers(dc1))[0]!.ageSeconds! >= age + 1, 20_000);
  assert.equal(fromDc2(dc1Watch.latest('api')!).length, 3, 'the imported instances stay');
  const status = await runCli(['status', ...dc1.cliFlags]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^Peerings +dc2 \(importing, (connecting|disconnected), 2 services, 4 instances, current as of [\d.]+s ago\)$/m);
  assert.match(status.stdout, /! \[peering\] the link to dc2 is (connecting|disconnected) \(imports [\d.]+s old, kept as they were\)/);

  dc2 = await startCluster('dc2', port);
  // dc2's registry is in memory: its workloads register again; the new one proves the link is back.
  await register(dc2.url, { service: 'api', address: '127.0.0.1', port: 7009, ttlSeconds: 300 });
  const back = await dc1Watch.waitForService('api', (s) => fromDc2(s).some((i) => i.port === 7009), 30_000);
  assert.deepEqual(
    fromDc2(back).map((i) => i.port),
    [7009],
  );
  assert.equal((await peers(dc1))[0]!.state, 'connected');
  const again = await runCli(['status', '-o', 'json', ...dc1.cliFlags]);
  assert.equal(again.code, 0, again.stderr);
  const out = JSON.parse(again.stdout) as { peerings: Row[]; warnings: { kind: string }[] };
  assert.deepEqual(
    out.peerings.map((r) => [r.peer, r.direction, r.state]),
    [['dc2', 'importing', 'connected']],
  );
  assert.equal(out.warnings.filter((w) => w.kind === 'peering').length, 0);
});

it('deleting the peering on dc2 cuts the link and refuses it from then on; dc1 keeps what it knew', async () => {
  await waitUntil(async () => (await peers(dc2))[0]?.streams === 1, 20_000);
  const del = await runCli(['cluster', 'unpeer', 'dc1', ...dc2.cliFlags]);
  assert.equal(del.code, 0, del.stderr);
  await dc2.child.waitFor(/peering with dc1 revoked/, 10_000);
  // dc1's stream is closed, by the credential's revocation or by the peering's removal, whichever came first.
  await dc2.child.waitFor(/watch close stream=\S+ after=\S+ \((token peer:dc1 expired or revoked|peering with dc1 deleted)\)/, 10_000);
  await waitUntil(async () => (await peers(dc1))[0]!.state === 'refused', 30_000);
  const [row] = await peers(dc1);
  assert.match(row!.lastError!, /401/);
  assert.equal(fromDc2(dc1Watch.latest('api')!).length, 1);
  assert.deepEqual(await peers(dc2), []);

  // dc1 forgets the peering: the imports go, the watchers hear it.
  const forget = await runCli(['cluster', 'unpeer', 'dc2', ...dc1.cliFlags]);
  assert.equal(forget.code, 0, forget.stderr);
  await dc1Watch.waitForService('api', (s) => s.instances.length === 0, 10_000);
});

it("gateway model: dc1 is given dc2's mesh gateway for every exported service; the peering survives dc1's restart", async () => {
  await register(dc2.url, { service: 'mesh-gateway', address: '127.0.0.1', port: 8443, ttlSeconds: 300 });
  const made = await runCli(['cluster', 'peering-token', '--peer', 'dc1', '--gateway', 'default/mesh-gateway', ...dc2.cliFlags]);
  assert.equal(made.code, 0, made.stderr);
  const used = await runCli(['cluster', 'peer', '--peering-token', made.stdout.trim(), ...dc1.cliFlags]);
  assert.equal(used.code, 0, used.stderr);
  const viaGateway = (s: { instances: Instance[] }) => fromDc2(s).map((i) => `${i.address}:${i.port}`);
  await dc1Watch.waitForService('api', (s) => viaGateway(s).join() === '127.0.0.1:8443', 20_000);
  await dc1Watch.waitForService('echo', (s) => viaGateway(s).join() === '127.0.0.1:8443', 20_000);

  await dc1Watch.close();
  await dc1.stop();
  dc1 = await startCluster('dc1');
  dc1Watch = await watch(dc1.url, ['api']);
  const api = await dc1Watch.waitForService('api', (s) => viaGateway(s).join() === '127.0.0.1:8443', 30_000);
  assert.equal(api.instances[0]!.cluster, 'dc2');
  // The imports may come from dc1's copy on disk before the link is back: the link itself must come back.
  await waitUntil(async () => (await peers(dc1))[0]!.state === 'connected', 30_000);
});

it("dc1 restarted while dc2 is down serves dc2's last exports from disk, with their age; a copy that fails the checks is not used", async () => {
  const kept = path.join(dirs.dc1, 'peer-imports', 'dc2.json');
  const onDisk = async () => {
    const copy = JSON.parse(await readFile(kept, 'utf8').catch(() => '{}')) as { syncedAt?: number };
    return { syncedAt: copy.syncedAt, mtimeMs: (await stat(kept).catch(() => undefined))?.mtimeMs ?? 0 };
  };
  // The copy is written after an update is applied, and a heartbeat after it says the copy is still current
  // (its modification time moves on). Updates may still come (the restart of the test before): each check
  // reads dc1's last update afresh.
  await waitUntil(async () => {
    const synced = Date.parse((await peers(dc1))[0]?.lastSyncAt ?? '');
    const disk = await onDisk();
    return disk.syncedAt === synced && disk.mtimeMs > synced + HEARTBEAT_MS;
  }, 20_000);
  await dc2.stop('SIGKILL');
  // dc2 is gone: no update comes after this one. It is on disk before dc1 stops.
  const [before] = await peers(dc1);
  assert.ok(before!.lastSyncAt, 'dc1 has had an update from dc2');
  await waitUntil(async () => (await onDisk()).syncedAt === Date.parse(before!.lastSyncAt!), 10_000);
  await dc1Watch.close();
  await dc1.stop();
  const confirmedOnDisk = (await stat(kept)).mtimeMs;
  dc1 = await startCluster('dc1');
  await dc1.child.waitFor(/imports of dc2 restored from .*: 2 services/, 10_000);
  dc1Watch = await watch(dc1.url, ['api']);
  const api = await dc1Watch.waitForService('api', (s) => fromDc2(s).length > 0, 10_000);
  assert.deepEqual(
    fromDc2(api).map((i) => `${i.address}:${i.port}`),
    ['127.0.0.1:8443'],
  );
  const [row] = await peers(dc1);
  assert.notEqual(row!.state, 'connected');
  assert.equal(row!.lastSyncAt, before!.lastSyncAt, 'the last update is the one dc2 last sent, not this start');
  // The age counts from the link's last sign of life before dc1 stopped: later than the update, earlier than this start.
  assert.ok(Math.abs(Date.parse(row!.confirmedAt!) - confirmedOnDisk) < 2, `confirmedAt ${row!.confirmedAt} is the copy's modification time ${new Date(confirmedOnDisk).toISOString()}`);
  assert.ok(Date.parse(row!.confirmedAt!) >= Date.parse(before!.lastSyncAt!));
  assert.equal(row!.importedInstances, 2);

  // A copy edited to claim another cluster's name is refused as a live update from dc2 would be.
  await dc1Watch.close();
  await dc1.stop();
  await writeFile(kept, JSON.stringify({ syncedAt: Date.now(), exports: { cluster: 'dc3', services: [] } }));
  dc1 = await startCluster('dc1');
  await dc1.child.waitFor(/imports of dc2 on disk not used: .*comes from cluster "dc3"/, 10_000);
  const [refused] = await peers(dc1);
  assert.equal(refused!.importedInstances, 0);
  assert.equal(refused!.lastSyncAt, undefined);
});
