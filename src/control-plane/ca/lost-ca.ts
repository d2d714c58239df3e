/**
 * A data directory without its CA state (ca.json) but with what a CA leaves
 * behind (the trust bundle workloads were given, join tokens) has LOST its CA: a backup restored without it, a file deleted by
 * mistake. Making a new root there, as on a first start, would silently break
 * the trust of every workload, CLI and copied CA file. So the start is refused
 * with the way back (restore the file), and a new root is made only on an
 * empty directory or when the operator says so (--new-ca).
 *
 * What counts as "left behind" is the CA's trail, not any file: a directory
 * that only holds resources (an --insecure run) never had a CA anyone trusts,
 * and an admin token may have been put there by the operator before a first
 * start.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { Authority, type AuthorityRecord } from './authority.js';
import { fileExists } from '../../core/optional-file.js';

export interface LostCaCheck {
  /** Where the CA state should be. */
  stateFile: string;
  /** Files a CA leaves in the data directory (those that exist are evidence of one). */
  trail: readonly string[];
  /** The trust bundle file among them: a supplied CA whose root is in it is the same CA, adopted again. */
  bundleFile: string;
  /** --new-ca: the operator accepts a new root. */
  newCa: boolean;
  supplied: AuthorityRecord | undefined;
  log: (line: string) => void;
}

/** Resolves when a new CA may be made; rejects (INVALID_CONFIG) naming the missing file and the recovery steps. */
export async function refuseLostCa(check: LostCaCheck): Promise<void> {
  const found = (await Promise.all(check.trail.map(async (f) => ((await fileExists(f)) ? f : undefined)))).filter((f): f is string => f !== undefined);
  if (found.length === 0) return;
  if (check.newCa) {
    check.log(`WARNING --new-ca: ${check.stateFile} is missing and a new root CA is made; workloads, CLIs and copies of ${check.bundleFile} trust the old one until they are given the new bundle`);
    return;
  }
  if (check.supplied && (await bundleHolds(check.bundleFile, new Authority(check.supplied).root))) {
    check.log(`ca: ${check.stateFile} is missing; adopting --ca-cert again, whose root is in ${check.bundleFile}`);
    return;
  }
  const names = found.map((f) => path.basename(f)).join(', ');
  throw new MeshError(
    ErrorCode.INVALID_CONFIG,
    `the data directory ${path.dirname(check.stateFile)} holds ${names} but not the CA state ${check.stateFile}: the CA that workloads trust is missing. ` +
      `Restore ${check.stateFile} from a backup and start again. Only if it is lost for good: start once with --new-ca to make a new root CA; ` +
      `every workload, CLI and copy of ${check.bundleFile} then trusts the old root only, so each needs the new bundle (and workloads new certificates) before it can connect again.`,
    { details: { file: check.stateFile, found } },
  );
}

async function bundleHolds(bundleFile: string, rootPem: string): Promise<boolean> {
  const text = await readFile(bundleFile, 'utf8').catch(() => '');
  const want = new X509Certificate(rootPem).fingerprint256;
  for (const pem of text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      if (new X509Certificate(pem).fingerprint256 === want) return true;
    } catch {
      // Not a certificate: not the one we look for.
    }
  }
  return false;
}
