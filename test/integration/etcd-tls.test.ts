/**
 * The control plane talks to an etcd that requires TLS, a client certificate
 * and a user with a password (etcd's --client-cert-auth and auth enabled, the
 * user allowed only the mesh's prefix): a real etcd, certificates made with
 * Debian's openssl. A replica given --etcd-ca/--etcd-cert/--etcd-key and the
 * user's password (a file, or HYPHAE_ETCD_PASSWORD) starts and writes; one
 * missing any of them, or with the wrong password, does not start.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3, Range } from 'etcd3';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { ETCD_BIN, freePorts } from '../helpers/etcd.js';
import { Pki, run as runCommand } from '../helpers/pki.js';
import { cliPath } from '../helpers/process.js';
import { replicaSecrets, type ReplicaSecrets } from '../helpers/replicas.js';

const hyphae = (args: string[]) => runCommand(process.execPath, [cliPath, ...args]);

describe('etcd over TLS with a client certificate and a password', () => {
  let dir: string;
  let etcd: ChildProcess | undefined;
  let endpoint: string;
  let files: { ca: string; cert: string; key: string; password: string };
  let secrets: ReplicaSecrets;
  const password = 'hyphae-etcd-password-0123456789';
  const running: RunningControlPlane[] = [];

  const args = (extra: string[], omit: string[] = []) => {
    const flags: [string, string][] = [
      ['--etcd-ca', files.ca],
      ['--etcd-cert', files.cert],
      ['--etcd-key', files.key],
      ['--etcd-username', 'hyphae'],
      ['--etcd-password-file', files.password],
    ];
    return [
      '--store',
      'etcd',
      '--etcd-endpoints',
      endpoint,
      '--etcd-timeout-ms',
      '1000',
      '--ca-encryption-key-file',
      secrets.keyFile,
      '--admin-token-file',
      secrets.adminTokenFile,
      ...flags.filter(([f]) => !omit.includes(f)).flat(),
      ...extra,
    ];
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-etcd-tls-'));
    secrets = await replicaSecrets();
    const pki = new Pki(dir);
    const ca = await pki.selfSignedCa('etcd-ca');
    const server = await pki.keyAndCsr('etcd-server', 'etcd', ['IP:127.0.0.1']);
    const serverCert = await pki.sign(server.csr, ca, { eku: 'serverAuth', san: ['IP:127.0.0.1'] }, 'etcd-server.pem');
    // CN "nobody": no etcd user of that name, so only the password makes the replica someone.
    const client = await pki.keyAndCsr('etcd-client', 'nobody');
    const clientCert = await pki.sign(client.csr, ca, { eku: 'clientAuth' }, 'etcd-client.pem');
    files = { ca: ca.cert, cert: clientCert, key: client.key, password: path.join(dir, 'etcd-password') };
    await writeFile(files.password, `${password}\n`, { mode: 0o600 });

    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    endpoint = `https://127.0.0.1:${clientPort}`;
    etcd = spawn(
      ETCD_BIN,
      [
        '--name=tls',
        `--data-dir=${path.join(dir, 'data')}`,
        `--listen-client-urls=${endpoint}`,
        `--advertise-client-urls=${endpoint}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=tls=http://127.0.0.1:${peerPort}`,
        `--cert-file=${serverCert}`,
        `--key-file=${server.key}`,
        `--trusted-ca-file=${ca.cert}`,
        '--client-cert-auth',
        '--log-level=error',
        '--logger=zap',
      ],
      { stdio: 'ignore' },
    );
    const admin = new Etcd3({
      hosts: endpoint,
      credentials: { rootCertificate: await readFile(ca.cert), certChain: await readFile(clientCert), privateKey: await readFile(client.key) },
    });
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await admin.get('probe').string();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      // What docs/usage.md asks of an operator: a user for the replicas, allowed the mesh's prefix only.
      await admin.role('hyphae-rw').create();
      await admin.role('hyphae-rw').grant({ permission: 'Readwrite', range: Range.prefix('/hyphae/') });
      await admin.user('hyphae').create(password);
      await admin.user('hyphae').addRole('hyphae-rw');
      await admin.role('root').create();
      await admin.user('root').create(`root-${password}`);
      await admin.user('root').addRole('root');
      await admin.auth.authEnable();
    } finally {
      admin.close();
    }
  });

  after(async () => {
    await Promise.all(running.map((r) => r.stop('SIGKILL')));
    if (etcd && etcd.exitCode === null) {
      etcd.kill('SIGKILL');
      await once(etcd, 'exit');
    }
    await secrets?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a replica with the CA, a client certificate and the password (file or environment) starts, and its writes land in etcd', async () => {
    const r1 = await startControlPlane({ args: args([]) });
    running.push(r1);
    const made = await call(r1.url, 'POST', '/v1/tokens', { service: 'cart' });
    assert.equal(made.status, 201, made.text);
    // The password from the environment instead of a file; it never appears on the command line.
    const r2 = await startControlPlane({ args: args([], ['--etcd-password-file']), env: { HYPHAE_ETCD_PASSWORD: password } });
    running.push(r2);
    assert.ok(!r2.child.lines.join('\n').includes(password), 'the password is never logged');
    assert.equal((await call<{ tokens: { id: string }[] }>(r2.url, 'GET', '/v1/tokens')).status, 200);
    assert.ok(!r1.child.lines.some((l) => l.includes('WARNING etcd')), 'no plain-HTTP warning for https://');
  });

  it('without the client certificate, without the CA, or with the wrong password, a replica does not start', async () => {
    await assert.rejects(startControlPlane({ args: args([], ['--etcd-cert', '--etcd-key']) }), /did not take the initial read/);
    await assert.rejects(startControlPlane({ args: args([], ['--etcd-ca']) }), /did not take the initial read/);
    await assert.rejects(startControlPlane({ args: args([], ['--etcd-password-file']), env: { HYPHAE_ETCD_PASSWORD: 'wrong-password-0123456789' } }), /did not take the initial read/);
    // Without a password the user is refused at the command line: there is no --etcd-password flag to put it in argv.
    const noPassword = await hyphae(['control-plane', ...args([], ['--etcd-password-file']), '--data-dir', path.join(dir, 'x')]);
    assert.equal(noPassword.code, 2, noPassword.stderr);
    assert.match(noPassword.stderr, /--etcd-username needs its password in --etcd-password-file <file> or HYPHAE_ETCD_PASSWORD/);
    const flag = await hyphae(['control-plane', ...args(['--etcd-password', password])]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /etcd-password/);
  });
});
