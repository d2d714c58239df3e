/**
 * The control plane's security, set up at start: the CA (loaded, made, or the
 * operator's), the admin token, the join tokens, and the HTTPS certificate of
 * the API. With `insecure`, none of it: a loud warning instead.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, MeshError } from '../core/errors.js';
import { loadAdminToken } from './auth/admin-token.js';
import { loadConfiguredTokens } from './auth/configured-tokens.js';
import { FileTokenStore } from './auth/token-store.js';
import { Tokens } from './auth/tokens.js';
import { suppliedAuthority } from './ca/authority.js';
import { FileCaStateStore } from './ca/ca-state.js';
import { CertificateAuthority } from './ca/certificate-authority.js';
import { ServingCertificate, servingNames } from './ca/serving-certificate.js';
import type { EventLog } from './log.js';
import type { ResolvedOptions } from './options.js';

export const BUNDLE_FILE = 'ca-bundle.pem';

export interface Security {
  tokens: Tokens;
  ca: CertificateAuthority | undefined;
  serving: ServingCertificate | undefined;
  /** Where the admin token and the trust bundle (PEM) are, for the log and for tests; undefined when insecure. */
  adminTokenFile: string | undefined;
  bundleFile: string | undefined;
  close(): void;
}

export async function setUpSecurity(opts: ResolvedOptions, dataDir: string, log: EventLog): Promise<Security> {
  if (opts.insecure) {
    log('WARNING insecure: plain HTTP, no CA, no tokens, no mTLS. Anyone who reaches the API can register as any service and change the configuration. Never use --insecure outside a laptop.');
    const tokens = await Tokens.open({ store: new FileTokenStore(dataDir), admin: undefined, configured: [] });
    return { tokens, ca: undefined, serving: undefined, adminTokenFile: undefined, bundleFile: undefined, close: () => {} };
  }
  // The file store made it already; with etcd it may not exist yet. The CA and tokens live here (0700).
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  let supplied;
  if (opts.caCertFile && opts.caKeyFile) {
    const [cert, key] = await Promise.all([readOption(opts.caCertFile, 'caCertFile'), readOption(opts.caKeyFile, 'caKeyFile')]);
    supplied = suppliedAuthority(cert, key);
  }
  const bundleFile = path.join(dataDir, BUNDLE_FILE);
  const ca = await CertificateAuthority.open({
    store: new FileCaStateStore(dataDir),
    trustDomain: opts.trustDomain,
    certTtlMs: opts.certTtlMs,
    supplied,
    bundleFile,
    log,
  });
  const admin = await loadAdminToken(dataDir, opts.adminTokenFile);
  log(`admin token ${admin.created ? 'created in' : 'read from'} ${admin.file}`);
  const configured = await loadConfiguredTokens(opts.joinTokens, opts.joinTokensFile);
  const tokens = await Tokens.open({ store: new FileTokenStore(dataDir), admin: admin.token, configured });
  const serving = await ServingCertificate.create(ca, servingNames(opts.host, opts.tlsNames));
  log(`ca trust-domain=${ca.trustDomain} active=${ca.status().active} roots=${ca.bundle.roots.length} cert-ttl=${opts.certTtlMs / 1000}s bundle=${bundleFile}`);
  return { tokens, ca, serving, adminTokenFile: admin.file, bundleFile, close: () => serving.close() };
}

async function readOption(file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read ${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
