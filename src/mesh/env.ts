/**
 * The default mesh (module-level meshFetch and wrapServer) is configured by
 * environment variables. A missing or bad one is reported by its name.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import { labelsSchema } from '../config/labels.js';
import { describeIssues, toIssues } from '../config/validate.js';
import type { MeshOptions } from './options.js';

export const ENV = {
  CONTROL_PLANE: 'HYPHAE_CONTROL_PLANE',
  SERVICE: 'HYPHAE_SERVICE',
  NAMESPACE: 'HYPHAE_NAMESPACE',
  LABELS: 'HYPHAE_LABELS',
  ADVERTISE_ADDRESS: 'HYPHAE_ADVERTISE_ADDRESS',
  PATH_SEMICOLONS: 'HYPHAE_PATH_SEMICOLONS',
  WAIT_FOR_CONTROL_PLANE: 'HYPHAE_WAIT_FOR_CONTROL_PLANE',
  DRAIN_DELAY_MS: 'HYPHAE_DRAIN_DELAY_MS',
  GRACE_PERIOD_MS: 'HYPHAE_GRACE_PERIOD_MS',
  TTL_SECONDS: 'HYPHAE_TTL_SECONDS',
  PASSTHROUGH: 'HYPHAE_PASSTHROUGH',
  HTTP1_TRANSPORT: 'HYPHAE_HTTP1_TRANSPORT',
  TOKEN: 'HYPHAE_TOKEN',
  CA_FILE: 'HYPHAE_CA_FILE',
  CACHE_DIR: 'HYPHAE_CACHE_DIR',
  CACHE_IDENTITY: 'HYPHAE_CACHE_IDENTITY',
  // Telemetry
  ACCESS_LOG: 'HYPHAE_ACCESS_LOG',
  STATS_INTERVAL_MS: 'HYPHAE_STATS_INTERVAL_MS',
  REPORT_STATS: 'HYPHAE_REPORT_STATS',
  PROPAGATE_TO: 'HYPHAE_PROPAGATE_TO',
} as const;

function invalid(variable: string, why: string): MeshError {
  return new MeshError(ErrorCode.INVALID_OPTIONS, `${variable} ${why}`, { details: { variable } });
}

function int(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw invalid(name, `must be a number, got "${raw}"`);
  return n;
}

function bool(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes' || raw === 'on') return true;
  if (raw === '0' || raw === 'false' || raw === 'no' || raw === 'off') return false;
  throw invalid(name, `must be 1/true/yes/on or 0/false/no/off, got "${env[name]}"`);
}

/** `version=v1,zone=a` -> { version: 'v1', zone: 'a' } */
export function parseLabels(raw: string, variable: string = ENV.LABELS): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw invalid(variable, `must be key=value pairs separated by commas, got "${item}"`);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}

/** The control plane's label rules, checked here so that the message names the variable, not an option path. */
function checkedLabels(labels: Record<string, string>, variable: string): Record<string, string> {
  const checked = labelsSchema.safeParse(labels);
  if (!checked.success) throw invalid(variable, `holds labels the control plane would refuse: ${describeIssues(toIssues(checked.error))}`);
  return labels;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): MeshOptions {
  const cp = env[ENV.CONTROL_PLANE];
  if (!cp) {
    throw invalid(ENV.CONTROL_PLANE, 'is not set: the default mesh (meshFetch, wrapServer) needs the control plane URL, e.g. HYPHAE_CONTROL_PLANE=https://127.0.0.1:15010');
  }
  const urls = cp
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (urls.length === 0) throw invalid(ENV.CONTROL_PLANE, `holds no URL: "${cp}"`);
  const passthrough = env[ENV.PASSTHROUGH] || undefined;
  if (passthrough !== undefined && passthrough !== 'allow' && passthrough !== 'deny') throw invalid(ENV.PASSTHROUGH, `must be "allow" or "deny", got "${passthrough}"`);
  const transport = env[ENV.HTTP1_TRANSPORT]?.trim().toLowerCase() || undefined;
  if (transport !== undefined && transport !== 'undici' && transport !== 'raw') throw invalid(ENV.HTTP1_TRANSPORT, `must be "undici" or "raw", got "${env[ENV.HTTP1_TRANSPORT]}"`);
  const server: NonNullable<MeshOptions['server']> = {};
  const drain = int(env, ENV.DRAIN_DELAY_MS);
  const grace = int(env, ENV.GRACE_PERIOD_MS);
  if (drain !== undefined) server.drainDelayMs = drain;
  if (grace !== undefined) server.gracePeriodMs = grace;
  if (env[ENV.ADVERTISE_ADDRESS]) server.advertiseAddress = env[ENV.ADVERTISE_ADDRESS];
  const semicolons = env[ENV.PATH_SEMICOLONS]?.trim().toLowerCase();
  if (semicolons) {
    if (semicolons !== 'strip' && semicolons !== 'reject' && semicolons !== 'keep') throw invalid(ENV.PATH_SEMICOLONS, `must be strip, reject or keep, got "${env[ENV.PATH_SEMICOLONS]}"`);
    server.pathSemicolons = semicolons;
  }
  const options: MeshOptions = {
    controlPlane: urls.length === 1 ? urls[0]! : urls,
    labels: checkedLabels(parseLabels(env[ENV.LABELS] ?? ''), ENV.LABELS),
    waitForControlPlane: bool(env, ENV.WAIT_FOR_CONTROL_PLANE),
    server,
  };
  if (env[ENV.SERVICE]) options.service = env[ENV.SERVICE];
  if (env[ENV.NAMESPACE]) options.namespace = env[ENV.NAMESPACE];
  const ttl = int(env, ENV.TTL_SECONDS);
  if (ttl !== undefined) options.ttlSeconds = ttl;
  if (passthrough) options.passthrough = passthrough;
  if (transport) options.http1Transport = transport;
  if (env[ENV.TOKEN]) options.token = env[ENV.TOKEN]!.trim();
  if (env[ENV.CA_FILE]) options.caFile = env[ENV.CA_FILE];
  const cacheDir = env[ENV.CACHE_DIR]?.trim();
  if (cacheDir) options.cacheDir = ['0', 'false', 'off'].includes(cacheDir.toLowerCase()) ? false : cacheDir;
  if (env[ENV.CACHE_IDENTITY]?.trim()) options.cacheIdentity = bool(env, ENV.CACHE_IDENTITY);
  // Telemetry
  const telemetry: NonNullable<MeshOptions['telemetry']> = {};
  const accessLog = env[ENV.ACCESS_LOG]?.trim().toLowerCase();
  if (accessLog && !['0', 'false', 'off', 'no'].includes(accessLog)) {
    if (accessLog === 'stdout' || accessLog === '1' || accessLog === 'true' || accessLog === 'yes') telemetry.accessLog = 'stdout';
    else if (accessLog === 'stderr') telemetry.accessLog = 'stderr';
    else throw invalid(ENV.ACCESS_LOG, `must be stdout, stderr or off, got "${env[ENV.ACCESS_LOG]}"`);
  }
  const statsInterval = int(env, ENV.STATS_INTERVAL_MS);
  if (statsInterval !== undefined) telemetry.statsIntervalMs = statsInterval;
  if (env[ENV.REPORT_STATS]) telemetry.reportStats = bool(env, ENV.REPORT_STATS);
  const propagateTo = env[ENV.PROPAGATE_TO]?.trim();
  if (propagateTo) {
    const word = propagateTo.toLowerCase();
    // A list of hosts is checked by the options' schema, which names the host at fault.
    if (word === 'all' || word === 'true' || word === '1') telemetry.propagateTo = true;
    else if (word === 'none' || word === 'false' || word === '0') telemetry.propagateTo = false;
    else
      telemetry.propagateTo = propagateTo
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean);
  }
  if (Object.keys(telemetry).length > 0) options.telemetry = telemetry;
  return options;
}
