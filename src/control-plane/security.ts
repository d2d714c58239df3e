/**
 * The control plane's security, set up at start: the CA (loaded, made, or the
 * operator's), the admin token, the join tokens, and the HTTPS certificate of
 * the API. With `insecure`, none of it: a loud warning instead.
 *
 * On one node the CA and the tokens live in the data directory. With etcd
 * (`shared`), they live in etcd, shared by every replica: the CA's private
 * keys encrypted with the key every replica is given, the tokens as digests.
 * Each replica still writes the trust bundle (public) to its data directory
 * and makes its own HTTPS key, signed by the shared CA.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, MeshError } from '../core/errors.js';
import { checkPrivate } from '../core/private-file.js';
import { loadAdminToken, loadSharedAdminToken, type SharedAdminDigest } from './auth/admin-token.js';
import { loadConfiguredTokens } from './auth/configured-tokens.js';
import { readableWarning } from './auth/secret.js';
import { FileTokenStore, TOKENS_FILE, type TokenStore } from './auth/token-store.js';
import { Tokens } from './auth/tokens.js';
import { suppliedAuthority, type AuthorityRecord } from './ca/authority.js';
import { FileCaStateStore, type CaStateStore } from './ca/ca-state.js';
import { CertificateAuthority } from './ca/certificate-authority.js';
import { refuseLostCa } from './ca/lost-ca.js';
import { EncryptionKeys } from './ca/encryption-keys.js';
import { ServingCertificate, servingNames } from './ca/serving-certificate.js';
import type { SharedSecurityStores } from './backend.js';
import type { EventLog } from './log.js';
import type { ResolvedOptions } from './options.js';

export const BUNDLE_FILE = 'ca-bundle.pem';

export interface Security {
  tokens: Tokens;
  ca: CertificateAuthority | undefined;
  serving: ServingCertificate | undefined;
  /** Where the admin token and the trust bundle (PEM) are, for the log and for tests; undefined when insecure (or a replica holds no copy). */
  adminTokenFile: string | undefined;
  bundleFile: string | undefined;
  close(): Promise<void>;
}

export async function setUpSecurity(opts: ResolvedOptions, dataDir: string, log: EventLog, shared?: SharedSecurityStores): Promise<Security> {
  if (opts.insecure) {
    log('WARNING insecure: plain HTTP, no CA, no tokens, no mTLS. Anyone who reaches the API can register as any service and change the configuration. Never use --insecure outside a laptop.');
    const tokens = await Tokens.open({ store: new FileTokenStore(dataDir), admin: undefined, configured: [] });
    return { tokens, ca: undefined, serving: undefined, adminTokenFile: undefined, bundleFile: undefined, close: async () => {} };
  }
  // The file store made it already; with etcd it may not exist yet. The trust bundle (and on one node the CA and tokens) live here (0700).
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  let supplied: AuthorityRecord | undefined;
  if (opts.caCertFile && opts.caKeyFile) {
    // The CA's private key: whoever could swap it would sign every identity of the mesh.
    const { readableByOthers } = await checkPrivate(opts.caKeyFile, '--ca-key');
    if (readableByOthers) log(readableWarning(`--ca-key ${opts.caKeyFile}`));
    const [cert, key] = await Promise.all([readOption(opts.caCertFile, 'caCertFile'), readOption(opts.caKeyFile, 'caKeyFile')]);
    supplied = suppliedAuthority(cert, key);
  }
  let caStore: CaStateStore;
  let tokenStore: TokenStore;
  let sharedTokens: (TokenStore & SharedAdminDigest) | undefined;
  const opened: { close?(): Promise<void> }[] = [];
  const closeStores = () => Promise.all(opened.map((s) => s.close?.().catch(() => {})));
  let ca: CertificateAuthority | undefined;
  try {
    if (shared) {
      const { keys, warning } = await EncryptionKeys.load({ file: opts.caEncryptionKeyFile, inline: opts.caEncryptionKey });
      if (warning) log(`WARNING ${warning}`);
      log(`ca encryption keys from ${keys.source}: ${keys.ids.map((id, i) => (i === 0 ? `${id} (encrypts)` : id)).join(', ')}`);
      caStore = shared.caState(keys);
      opened.push(caStore);
      tokenStore = sharedTokens = shared.tokens(keys);
      opened.push(sharedTokens);
    } else {
      caStore = new FileCaStateStore(dataDir);
      tokenStore = new FileTokenStore(dataDir);
    }
    // The CA first: a replica given the wrong encryption key stops here, before it writes anything.
    const bundleFile = path.join(dataDir, BUNDLE_FILE);
    const stateFile = caStore.location;
    // On one node a missing ca.json beside what a CA leaves behind is a lost CA, not a first start.
    const beforeCreate = shared
      ? undefined
      : () =>
          refuseLostCa({
            stateFile,
            // Not admin-token: an operator may put one there before the first start.
            trail: [bundleFile, path.join(dataDir, TOKENS_FILE)],
            bundleFile,
            newCa: opts.newCa,
            supplied,
            log,
          });
    if (opts.newCa && !shared && (await caStore.load()) !== undefined) {
      log(`--new-ca ignored: ${stateFile} holds the CA (rotate it with hyphae ca rotate)`);
    }
    ca = await CertificateAuthority.open({
      store: caStore,
      trustDomain: opts.trustDomain,
      certTtlMs: opts.certTtlMs,
      cluster: opts.cluster,
      supplied,
      bundleFile,
      log,
      ...(beforeCreate && { beforeCreate }),
    });
    let admin: { token: string | (() => Buffer); file: string | undefined };
    if (sharedTokens) {
      const a = await loadSharedAdminToken(dataDir, opts.adminTokenFile, sharedTokens);
      if (a.warning) log(a.warning);
      log(`admin token ${a.note}`);
      const digests = sharedTokens;
      admin = { token: () => digests.adminDigest()!, file: a.file };
    } else {
      const a = await loadAdminToken(dataDir, opts.adminTokenFile);
      if (a.warning) log(a.warning);
      log(`admin token ${a.created ? 'created in' : 'read from'} ${a.file}`);
      admin = { token: a.token, file: a.file };
    }
    const { tokens: configured, warnings } = await loadConfiguredTokens({ specs: opts.joinTokens, file: opts.joinTokensFile, secretFiles: opts.joinTokenFiles });
    for (const w of warnings) log(w);
    const tokens = await Tokens.open({ store: tokenStore, admin: admin.token, configured });
    const serving = await ServingCertificate.create(ca, servingNames(opts.host, opts.tlsNames));
    log(`ca trust-domain=${ca.trustDomain} active=${ca.status().active} roots=${ca.bundle.roots.length} cert-ttl=${opts.certTtlMs / 1000}s bundle=${bundleFile} state=${caStore.location}`);
    const authority = ca;
    return {
      tokens,
      ca,
      serving,
      adminTokenFile: admin.file,
      bundleFile,
      close: async () => {
        serving.close();
        authority.close();
        await closeStores();
      },
    };
  } catch (err) {
    ca?.close();
    await closeStores();
    throw err;
  }
}

async function readOption(file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read ${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
