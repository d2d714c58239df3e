/**
 * The trust of the multi-cluster demos (and of the tests that run clusters), made as an operator would with
 * `openssl`: one root, and an intermediate CA per cluster signed by it, so that workloads of every cluster
 * verify each other with no exchange of bundles. Each control plane gets
 * `--ca-cert <intermediate + root> --ca-key <its key>`.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface CaFiles {
  cert: string;
  key: string;
}

export interface ClusterCas<N extends string> {
  root: CaFiles;
  /** Each cluster's intermediate (its certificate alone, not the chain). */
  intermediates: Record<N, CaFiles>;
  /** The `hyphae control-plane` flags of each cluster. */
  flags: Record<N, string[]>;
}

/** The root and each cluster's intermediate; the files are in `dir`. */
export async function clusterCas<N extends string>(dir: string, clusters: readonly N[]): Promise<ClusterCas<N>> {
  const openssl = (args: string[]) => exec('openssl', args, { cwd: dir });
  const root = { cert: path.join(dir, 'root.pem'), key: path.join(dir, 'root.key') };
  // A day is enough: a demo or a test lasts minutes, and its files go when it ends.
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
  const intermediates = {} as Record<N, CaFiles>;
  const flags = {} as Record<N, string[]>;
  await Promise.all(
    clusters.map(async (name, i) => {
      const key = path.join(dir, `${name}.key`);
      const csr = path.join(dir, `${name}.csr`);
      const cert = path.join(dir, `${name}.pem`);
      await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-subj', `/O=hyphae/CN=hyphae demo ${name} intermediate`, '-out', csr]);
      await openssl(['x509', '-req', '-in', csr, '-CA', root.cert, '-CAkey', root.key, '-set_serial', String(1001 + i), '-days', '1', '-sha256', '-extfile', ext, '-out', cert]);
      const chain = path.join(dir, `${name}-chain.pem`);
      await writeFile(chain, (await readFile(cert, 'utf8')) + rootPem);
      intermediates[name] = { cert, key };
      flags[name] = ['--ca-cert', chain, '--ca-key', key];
    }),
  );
  return { root, intermediates, flags };
}
