/**
 * The trust of the multi-cluster demos, made as an operator would with `openssl`: one root, and an
 * intermediate CA per cluster signed by it, so that workloads of every cluster verify each other with no
 * exchange of bundles. Each control plane gets `--ca-cert <intermediate + root> --ca-key <its key>`.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The `hyphae control-plane` flags of each cluster, by name. The files are in `dir`. */
export async function clusterCas(dir: string, clusters: readonly string[]): Promise<Map<string, string[]>> {
  const openssl = (args: string[]) => exec('openssl', args, { cwd: dir });
  const root = { cert: path.join(dir, 'root.pem'), key: path.join(dir, 'root.key') };
  // A day is enough: the demo lasts minutes, and its files go when it ends.
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    root.key,
    '-out',
    root.cert,
    '-days',
    '1',
    '-subj',
    '/O=hyphae/CN=hyphae demo root',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const rootPem = await readFile(root.cert, 'utf8');
  const ext = path.join(dir, 'intermediate.cnf');
  await writeFile(ext, 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n');
  const flags = new Map<string, string[]>();
  let serial = 1000;
  for (const name of clusters) {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.pem`);
    await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-subj', `/O=hyphae/CN=hyphae demo ${name} intermediate`, '-out', csr]);
    await openssl(['x509', '-req', '-in', csr, '-CA', root.cert, '-CAkey', root.key, '-set_serial', String(++serial), '-days', '1', '-sha256', '-extfile', ext, '-out', cert]);
    const chain = path.join(dir, `${name}-chain.pem`);
    await writeFile(chain, (await readFile(cert, 'utf8')) + rootPem);
    flags.set(name, ['--ca-cert', chain, '--ca-key', key]);
  }
  return flags;
}
