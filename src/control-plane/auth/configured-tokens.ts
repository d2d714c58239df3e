/**
 * Join tokens a deployment provisions in the control plane's configuration:
 * `[<namespace>/]<service>=<secret>`, from a file with one per line (`#`
 * starts a comment), from files that each hold one service's secret
 * (`[<namespace>/]<service>=<file>`), or given in memory (`joinTokens`: the
 * CLI's HYPHAE_JOIN_TOKENS). Never from the command line: argv is readable by
 * every local user (ps, /proc/<pid>/cmdline). The secret is chosen by the
 * operator (at least 32 characters), so workloads can be given theirs before
 * the control plane first starts.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { checkPrivate } from '../../core/private-file.js';
import { DEFAULT_NAMESPACE } from '../../config/names.js';
import { parseServiceRef } from '../../config/wire.js';
import { MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, readableWarning } from './secret.js';
import type { ConfiguredToken } from './tokens.js';

type ServiceRef = { namespace: string; name: string };

function serviceOf(spec: string, where: string): { ref: ServiceRef; value: string } {
  const fail = (why: string) => new MeshError(ErrorCode.INVALID_OPTIONS, `${where}: ${why}`);
  const eq = spec.indexOf('=');
  if (eq <= 0) throw fail('must be [<namespace>/]<service>=<secret>');
  const ref = parseServiceRef(spec.slice(0, eq).trim(), DEFAULT_NAMESPACE);
  if (!ref) throw fail(`"${spec.slice(0, eq).slice(0, 127)}" is not a service reference (a lower-case DNS label, optionally prefixed by <namespace>/)`);
  return { ref, value: spec.slice(eq + 1).trim() };
}

function checkSecret(secret: string, ref: ServiceRef, where: string): ConfiguredToken {
  if (secret.length < MIN_SECRET_LENGTH || secret.length > MAX_SECRET_LENGTH || /\s/.test(secret)) {
    throw new MeshError(
      ErrorCode.INVALID_OPTIONS,
      `${where}: the secret for ${ref.namespace}/${ref.name} must be ${MIN_SECRET_LENGTH} to ${MAX_SECRET_LENGTH} characters without spaces (it has ${secret.length}); make one with: openssl rand -hex 32`,
    );
  }
  return { service: ref.name, namespace: ref.namespace, secret };
}

export function parseTokenSpec(spec: string, where: string): ConfiguredToken {
  const { ref, value } = serviceOf(spec, where);
  return checkSecret(value, ref, where);
}

/** A token file is a secret that decides who may join as a service: refused if another user could have written it. */
async function readSecretFile(file: string, flag: string, warnings: string[]): Promise<string> {
  const { readableByOthers } = await checkPrivate(file, flag);
  if (readableByOthers) warnings.push(readableWarning(`${flag} ${file}`));
  return readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read ${flag} ${file}: ${err.code ?? err.message}`);
  });
}

export interface ConfiguredTokenSources {
  /** In memory, `[<namespace>/]<service>=<secret>` each. */
  specs?: readonly string[];
  /** One `[<namespace>/]<service>=<secret>` per line. */
  file?: string | undefined;
  /** `[<namespace>/]<service>=<file>`, each file holding one secret. */
  secretFiles?: readonly string[];
}

export async function loadConfiguredTokens(sources: ConfiguredTokenSources): Promise<{ tokens: ConfiguredToken[]; warnings: string[] }> {
  const warnings: string[] = [];
  const out = (sources.specs ?? []).map((s, i) => parseTokenSpec(s, `joinTokens #${i + 1}`));
  for (const [i, spec] of (sources.secretFiles ?? []).entries()) {
    const where = `--join-token-file #${i + 1}`;
    const { ref, value: file } = serviceOf(spec, where);
    if (file === '') throw new MeshError(ErrorCode.INVALID_OPTIONS, `${where}: must be [<namespace>/]<service>=<file>`);
    const text = await readSecretFile(file, '--join-token-file', warnings);
    out.push(checkSecret(text.replace(/\r?\n$/, ''), ref, `--join-token-file ${file}`));
  }
  if (sources.file) {
    const text = await readSecretFile(sources.file, '--join-tokens-file', warnings);
    text.split('\n').forEach((line, i) => {
      const item = line.replace(/#.*$/, '').trim();
      if (item) out.push(parseTokenSpec(item, `${sources.file}:${i + 1}`));
    });
  }
  return { tokens: out, warnings };
}
