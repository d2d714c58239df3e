/**
 * Certificates made with Debian's `openssl` command, as a foreign peer (or an
 * attacker) would make them: keys, CSRs, leaves signed by the mesh CA (its key
 * read from the control plane's data directory) or by another CA, expired
 * ones (`openssl ca` with explicit dates), and the mesh CA's own issuance
 * through the API (`curl` with a join token).
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command; never throws for a non-zero exit (tests assert on it). The default timeout is a ceiling against a hung command, generous because a busy machine makes a CLI start slowly. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

async function openssl(dir: string, args: string[]): Promise<string> {
  const { stdout } = await exec('openssl', args, { cwd: dir, maxBuffer: 8 * 1024 * 1024 });
  return stdout;
}

export interface Extensions {
  /** e.g. ['URI:spiffe://...'] */
  san?: string[];
  eku?: string;
  ca?: boolean;
}

function extFile(ext: Extensions): string {
  const lines = [
    ext.ca ? 'basicConstraints=critical,CA:TRUE' : 'basicConstraints=critical,CA:FALSE',
    ext.ca ? 'keyUsage=critical,keyCertSign,digitalSignature' : 'keyUsage=critical,digitalSignature,keyEncipherment',
  ];
  if (ext.eku) lines.push(`extendedKeyUsage=${ext.eku}`);
  if (ext.san?.length) lines.push(`subjectAltName=${ext.san.join(',')}`);
  return `${lines.join('\n')}\n`;
}

export class Pki {
  readonly dir: string;
  #n = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** RSA key and CSR (CN + optional SANs); returns their file names. */
  async keyAndCsr(name: string, cn: string, san: string[] = [], keyArgs = ['-newkey', 'rsa:2048']): Promise<{ key: string; csr: string }> {
    const key = this.file(`${name}.key`);
    const csr = this.file(`${name}.csr`);
    const args = ['req', '-new', ...keyArgs, '-nodes', '-keyout', key, '-subj', `/CN=${cn}`, '-out', csr];
    if (san.length) args.push('-addext', `subjectAltName=${san.join(',')}`);
    await openssl(this.dir, args);
    return { key, csr };
  }

  /** A self-signed CA (another mesh, an attacker). */
  async selfSignedCa(name: string): Promise<{ cert: string; key: string }> {
    const cert = this.file(`${name}.pem`);
    const key = this.file(`${name}.key`);
    await openssl(this.dir, [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { cert, key };
  }

  /** Sign a CSR with a CA (x509 -req), with exactly the given extensions. */
  async sign(csr: string, ca: { cert: string; key: string }, ext: Extensions, out: string, days = 1): Promise<string> {
    const extPath = this.file(`ext-${++this.#n}.cnf`);
    await writeFile(extPath, extFile(ext));
    const cert = this.file(out);
    await openssl(this.dir, ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(1000 + this.#n), '-days', String(days), '-sha256', '-extfile', extPath, '-out', cert]);
    return cert;
  }

  /** Sign with explicit validity dates (`openssl ca`), e.g. a certificate that expired long ago. */
  async signDated(csr: string, ca: { cert: string; key: string }, ext: Extensions, out: string, start: string, end: string): Promise<string> {
    const n = ++this.#n;
    const db = this.file(`index-${n}.txt`);
    const serial = this.file(`serial-${n}`);
    await writeFile(db, '');
    await writeFile(serial, `${(0x2000 + n).toString(16)}\n`);
    const extPath = this.file(`ext-${n}.cnf`);
    await writeFile(extPath, extFile(ext));
    const cnf = this.file(`ca-${n}.cnf`);
    await writeFile(
      cnf,
      [
        '[ ca ]',
        'default_ca = d',
        '[ d ]',
        `database = ${db}`,
        `new_certs_dir = ${this.dir}`,
        `serial = ${serial}`,
        `certificate = ${ca.cert}`,
        `private_key = ${ca.key}`,
        'default_md = sha256',
        'policy = p',
        'unique_subject = no',
        '[ p ]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    const cert = this.file(out);
    await openssl(this.dir, ['ca', '-batch', '-config', cnf, '-startdate', start, '-enddate', end, '-in', csr, '-out', cert, '-extfile', extPath, '-notext']);
    return cert;
  }

  /** The mesh CA's active certificate and key, copied from the control plane's state into PEM files (as an attacker with the disk would). */
  async meshCa(dataDir: string): Promise<{ cert: string; key: string }> {
    const state = JSON.parse(await readFile(path.join(dataDir, 'ca.json'), 'utf8')) as { active: string; authorities: { id: string; certificate: string; key: string }[] };
    const a = state.authorities.find((x) => x.id === state.active)!;
    const cert = this.file('mesh-ca.pem');
    const key = this.file('mesh-ca.key');
    await writeFile(cert, a.certificate);
    await writeFile(key, a.key, { mode: 0o600 });
    return { cert, key };
  }
}
