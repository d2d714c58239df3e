/**
 * The CLI's config file, kubeconfig-like: named contexts, each a control-plane
 * URL with the CA file and the token FILE to reach it, and the current one.
 *
 *   currentContext: prod
 *   contexts:
 *     - { name: prod, controlPlane: https://cp.example:15010, caFile: prod-ca.pem, tokenFile: prod-admin-token }
 *
 * It lives at HYPHAE_CONFIG, else $XDG_CONFIG_HOME/hyphae/config.yaml (~/.config/...). Relative paths
 * in it are relative to the file. It names where the token is, never the token: the file is read by every
 * command and copied around more than a 0600 token file is (and a token in it is refused, as --token is).
 * It decides where tokens are sent, so a file another user could have written is refused (like ssh's).
 *
 * yaml and zod (./config-schema.ts) are imported when a file is there to read or write, not before: every
 * command that talks to the control plane looks for the file, most find none, and loading the two is a
 * large part of a command's start.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { checkPrivateSync } from '../../core/private-file.js';
import type { CliConfig, Context } from './config-schema.js';

export type { CliConfig, Context } from './config-schema.js';

/** What is wrong with a context, field by field (`controlPlane: an http:// or https:// URL`); empty when nothing. */
export async function contextProblems(context: unknown): Promise<string[]> {
  const { contextSchema } = await import('./config-schema.js');
  const r = contextSchema.safeParse(context);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(context)'}: ${i.message}`);
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HYPHAE_CONFIG) return env.HYPHAE_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'hyphae', 'config.yaml');
}

/** The file's contents, or undefined when there is none; a file another user could have written, or a bad one, throws. */
export async function readConfig(file: string): Promise<CliConfig | undefined> {
  if (!existsSync(file)) return undefined;
  checkPrivateSync(file, 'the hyphae config file');
  const [{ parse }, { configSchema }] = await Promise.all([import('yaml'), import('./config-schema.js')]);
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    throw new Error(`cannot read the hyphae config file ${file}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const contexts = (raw as { contexts?: unknown })?.contexts;
  if (Array.isArray(contexts)) {
    contexts.forEach((c, i) => {
      if (typeof c === 'object' && c !== null && 'token' in c) {
        throw new Error(
          `${file}: contexts[${i}].token: the config file names a token file (tokenFile), never the token itself: it is read by every command and copied around more than a 0600 token file; put the token in a file of its own`,
        );
      }
    });
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(file)'}: ${i.message}`).join('\n');
    throw new Error(`the hyphae config file ${file} is not valid:\n${issues}`);
  }
  const names = new Set<string>();
  for (const c of parsed.data.contexts) {
    if (names.has(c.name)) throw new Error(`the hyphae config file ${file} defines context "${c.name}" twice`);
    names.add(c.name);
  }
  // Relative to the file, as kubeconfig does: the file and what it names move together.
  const dir = path.dirname(file);
  for (const c of parsed.data.contexts) {
    if (c.caFile !== undefined) c.caFile = path.resolve(dir, c.caFile);
    if (c.tokenFile !== undefined) c.tokenFile = path.resolve(dir, c.tokenFile);
  }
  return parsed.data;
}

/** Written whole and atomically, 0600, in a 0700 directory made if missing. */
export async function writeConfig(file: string, config: CliConfig): Promise<void> {
  const [{ stringify }, { configSchema }] = await Promise.all([import('yaml'), import('./config-schema.js')]);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, stringify(configSchema.parse(config), { lineWidth: 0 }));
}

/**
 * The context to use: the one named, or else the current one; undefined when none is named and the file
 * has no current context (or there is no file). A name the file does not define throws.
 */
export async function findContext(file: string, name: string | undefined): Promise<Context | undefined> {
  const config = await readConfig(file);
  const wanted = name ?? config?.currentContext;
  if (wanted === undefined) return undefined;
  if (!config) throw new Error(`no hyphae config file at ${file} to take context "${wanted}" from: create one with hyphae config set-context ${wanted} --control-plane <url>`);
  const found = config.contexts.find((c) => c.name === wanted);
  if (!found) {
    const known = config.contexts.map((c) => c.name).join(', ') || 'none';
    throw new Error(`context "${wanted}" is not in ${file} (contexts: ${known})${name === undefined ? ': it is the currentContext there, fix it with hyphae config use-context <name>' : ''}`);
  }
  return found;
}
