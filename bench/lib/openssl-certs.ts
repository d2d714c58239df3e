/**
 * Certificates for the benches' non-mesh TLS peers (a Node https server, an
 * nginx sidecar pair), made with the `openssl` CLI as an operator would for a
 * sidecar deployment: one CA, a server certificate and a client certificate.
 * RSA 2048 like the mesh's own workload keys (src/tls/keys.ts), so that no
 * side is slower or faster for its key type alone.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertFiles {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** The DNS name the server certificate holds (it also holds IP 127.0.0.1). */
  serverName: string;
}

export const OPENSSL_MISSING = 'openssl not found: the mTLS rows need it (apt-get install -y openssl)';

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    // A ceiling against a stalled child, not an expectation: three RSA keys take well under a second.
    await run('openssl', args, { cwd, timeout: 60_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(OPENSSL_MISSING, { cause: err });
    throw err;
  }
}

/** Writes ca.crt, server.{crt,key} and client.{crt,key} into `dir` (the keys 0600). */
export async function makeCerts(dir: string): Promise<CertFiles> {
  const serverName = 'bench.local';
  const days = ['-days', '2'];
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      ...days,
      '-subj',
      '/CN=hyphae bench CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  await chmod(path.join(dir, 'ca.key'), 0o600);
  const leaf = async (name: string, ext: string) => {
    await writeFile(path.join(dir, `${name}.ext`), ext);
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    await openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x1${randomBytes(8).toString('hex')}`, '-out', `${name}.crt`, ...days, '-extfile', `${name}.ext`],
      dir,
    );
    await chmod(path.join(dir, `${name}.key`), 0o600);
  };
  const common = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
  await leaf('server', `${common}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:${serverName},IP:127.0.0.1\n`);
  // A SPIFFE-shaped identity, as the mesh's client would present; nginx and Node only check the chain.
  await leaf('client', `${common}extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://bench.local/ns/default/sa/bench-client\n`);
  const file = (name: string) => path.join(dir, name);
  return {
    caCert: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
    serverName,
  };
}
