/**
 * Join tokens a deployment provisions in the control plane's configuration:
 * `[<namespace>/]<service>=<secret>`, from repeated --join-token flags or a
 * file with one per line (`#` starts a comment). The secret is chosen by the
 * operator (at least 16 characters), so workloads can be given theirs before
 * the control plane first starts.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { DEFAULT_NAMESPACE } from '../../config/names.js';
import { parseServiceRef } from '../../config/wire.js';
import type { ConfiguredToken } from './tokens.js';

export function parseTokenSpec(spec: string, where: string): ConfiguredToken {
  const fail = (why: string) => new MeshError(ErrorCode.INVALID_OPTIONS, `${where}: ${why}`);
  const eq = spec.indexOf('=');
  if (eq <= 0) throw fail('must be [<namespace>/]<service>=<secret>');
  const ref = parseServiceRef(spec.slice(0, eq).trim(), DEFAULT_NAMESPACE);
  if (!ref) throw fail(`"${spec.slice(0, eq).slice(0, 127)}" is not a service reference (a lower-case DNS label, optionally prefixed by <namespace>/)`);
  const secret = spec.slice(eq + 1).trim();
  if (secret.length < 16 || secret.length > 512 || /\s/.test(secret)) throw fail(`the secret for ${ref.namespace}/${ref.name} must be 16 to 512 characters without spaces`);
  return { service: ref.name, namespace: ref.namespace, secret };
}

export async function loadConfiguredTokens(specs: readonly string[], file: string | undefined): Promise<ConfiguredToken[]> {
  const out = specs.map((s, i) => parseTokenSpec(s, `--join-token #${i + 1}`));
  if (file) {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read --join-tokens-file ${file}: ${err.code ?? err.message}`);
    });
    text.split('\n').forEach((line, i) => {
      const item = line.replace(/#.*$/, '').trim();
      if (item) out.push(parseTokenSpec(item, `${file}:${i + 1}`));
    });
  }
  return out;
}
