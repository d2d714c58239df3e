/**
 * What a mesh must have before it is handed to the application: the control
 * plane reached (or the fail-static cache to start from), and with an https://
 * control plane the workload certificate (mTLS). Run by mesh.start() until it
 * succeeds once; `signal` (the mesh closed) ends a wait for the control plane.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, MeshError } from '../core/errors.js';
import { defaultLogger } from '../core/logger.js';
import { ControlPlaneClient } from '../discovery/control-plane-client.js';
import { untraced } from '../telemetry/context.js';
import { connectOrStartFromCache } from './fail-static.js';
import { forgetIdentity, IdentityCache } from './identity-cache.js';
import type { ResolvedMeshOptions } from './options.js';
import { MeshSecurity } from './security.js';

export interface MeshStart {
  client: ControlPlaneClient | undefined;
  /** mTLS (an https:// control plane); undefined for a plain mesh. */
  security: MeshSecurity | undefined;
}

/** An https:// control plane gives the mesh its CA, so mTLS; known from the options, before the start. */
export function hasMtls(options: Pick<ResolvedMeshOptions, 'controlPlane'>): boolean {
  const cp = options.controlPlane;
  if (cp === undefined) return false;
  return (Array.isArray(cp) ? cp[0]! : cp).startsWith('https:');
}

export async function startMesh(options: ResolvedMeshOptions, signal?: AbortSignal): Promise<MeshStart> {
  if (options.controlPlane === undefined) return { client: undefined, security: undefined };
  const urls = Array.isArray(options.controlPlane) ? options.controlPlane : [options.controlPlane];
  const secure = hasMtls(options);
  const ca = secure ? (options.ca ?? (await readCaFile(options.caFile!))) : undefined;
  // The mesh's own calls to the control plane are not the application's traffic: never traced as such.
  const client = new ControlPlaneClient(urls, { timeoutMs: options.controlPlaneTimeoutMs, token: options.token, ca, run: untraced });
  const logger = options.logger ?? defaultLogger;
  try {
    const start = await connectOrStartFromCache(client, options, logger, signal);
    if (!options.cacheIdentity && start.dir !== undefined && options.service) await forgetIdentity(start.dir, options.namespace, options.service, logger);
    // mTLS needs a certificate: from the CA at start (bounded attempts, or waitForControlPlane), or, when the
    // control plane is unreachable and the mesh starts from its cache, the one an earlier run kept.
    let security: MeshSecurity | undefined;
    if (secure) {
      security = await MeshSecurity.start(client, {
        service: options.service!,
        namespace: options.namespace,
        attempts: options.connectAttempts,
        wait: options.waitForControlPlane,
        logger,
        identityCache: options.cacheIdentity && start.dir !== undefined ? new IdentityCache(start.dir, options.namespace, options.service!, logger) : undefined,
        offline: start.offline ? { trustBundle: start.trustBundle } : undefined,
      });
    }
    if (signal?.aborted) {
      await security?.close();
      signal.throwIfAborted();
    }
    return { client, security };
  } catch (err) {
    await client.close();
    throw err;
  }
}

async function readCaFile(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read the control plane's CA file ${file} (caFile / HYPHAE_CA_FILE): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      details: { variable: 'HYPHAE_CA_FILE' },
    });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `the CA file ${file} (caFile / HYPHAE_CA_FILE) holds no PEM certificate`, { details: { variable: 'HYPHAE_CA_FILE' } });
  }
  return pem;
}
