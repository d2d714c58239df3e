/** Reading a certificate's cluster: only a subject that is exactly one OU holding a cluster name counts. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { clusterOf, clusterStamp } from '../../src/tls/cluster-stamp.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { run } from '../helpers/pki.js';

describe('cluster stamp', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('hyphae-stamp-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A self-signed certificate with exactly `subj` (openssl's -subj syntax), as another CA could make it. */
  const withSubject = async (name: string, subj: string) => {
    const r = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', subj, '-days', '1'], {
      cwd: dir,
    });
    assert.equal(r.code, 0, r.stderr);
    return new X509Certificate(await readFile(`${dir}/${name}.pem`));
  };

  it('reads the cluster from a subject of exactly one OU holding a DNS label', async () => {
    assert.equal(clusterOf(await withSubject('dc1', '/OU=dc1')), 'dc1');
    assert.equal(clusterOf(await withSubject('long', `/OU=a${'b'.repeat(61)}c`)), `a${'b'.repeat(61)}c`);
  });

  it('names no cluster for an empty subject, other attributes, several OUs or a value that is not a cluster name', async () => {
    const none: [string, string][] = [
      ['empty', '/'],
      ['cn', '/CN=dc1'],
      ['cn-ou', '/CN=x/OU=dc1'],
      ['ou-cn', '/OU=dc1/CN=x'],
      ['two-ou', '/OU=dc1/OU=dc2'],
      ['upper', '/OU=DC1'],
      ['underscore', '/OU=dc_1'],
      ['dash', '/OU=-dc1'],
      ['too-long', `/OU=${'a'.repeat(64)}`],
      ['newline', '/OU=dc1\\nOU=dc2'],
    ];
    for (const [name, subj] of none) assert.equal(clusterOf(await withSubject(name, subj)), undefined, subj);
  });

  it('refuses to stamp a name that is not a cluster name', () => {
    assert.equal(clusterStamp('dc-1'), 'dc-1');
    for (const bad of ['', 'DC1', 'dc_1', 'a\nb', 'x'.repeat(64)]) assert.throws(() => clusterStamp(bad), /invalid cluster name/, bad);
  });
});
