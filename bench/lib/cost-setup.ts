/**
 * What the per-process cost benches (bench/sidecar.ts, bench/server-profile.ts) stand on: test
 * certificates for the plain TLS rows, two real control planes (plain and secure, file store, in
 * `dir`), join tokens for the server and the client, and the environment that bench/lib/cost-server.ts
 * reads. Every process started is pushed on `cleanups`.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { joinToken, startFileControlPlane, type BenchSetup } from './control-planes.js';
import { makeCerts, type CertFiles } from './openssl-certs.js';

export interface CostSetup {
  certs: CertFiles;
  plainCp: BenchSetup;
  mtlsCp: BenchSetup;
  /** The client's join token on the secure control plane (service bench-client). */
  clientToken: string;
  /** The secure control plane's CA bundle, as a file (MTLS_CA_FILE). */
  caFile: string;
  cacheDir: string;
  /** The environment of bench/lib/cost-server.ts. */
  serverEnv: Record<string, string>;
}

export async function startCostSetup(dir: string, cleanups: (() => Promise<unknown>)[]): Promise<CostSetup> {
  const certs = await makeCerts(dir);
  const [plainCp, mtlsCp] = await Promise.all([startFileControlPlane(false, dir), startFileControlPlane(true, dir)]);
  cleanups.push(
    () => plainCp.stop(),
    () => mtlsCp.stop(),
  );
  const caFile = path.join(dir, 'control-plane-ca.pem');
  await writeFile(caFile, mtlsCp.ca!);
  const cacheDir = path.join(dir, 'cache');
  const [serverToken, clientToken] = await Promise.all([joinToken(mtlsCp, 'bench'), joinToken(mtlsCp, 'bench-client')]);
  const serverEnv = {
    CERTS: JSON.stringify(certs),
    CACHE_DIR: cacheDir,
    PLAIN_CP: plainCp.urls[0]!,
    MTLS_CP: mtlsCp.urls[0]!,
    MTLS_TOKEN: serverToken,
    MTLS_CA_FILE: caFile,
  };
  return { certs, plainCp, mtlsCp, clientToken, caFile, cacheDir, serverEnv };
}
