/**
 * The zero-config form: `import { meshFetch, wrapServer } from 'hyphae'` uses
 * one default mesh per process, built from environment variables on first use.
 * Nothing happens at import time.
 */
import type http from 'node:http';
import type { Dispatcher } from 'undici';
import { ErrorCode, MeshError } from '../core/errors.js';
import { defaultLogger } from '../core/logger.js';
import { wrapServer as wrap, type WrapServerOptions } from '../server/wrap-server.js';
import type { PolicySource } from '../server/policy-source.js';
import { ENV, optionsFromEnv } from './env.js';
import { Mesh, type MeshFetch, type MeshRequestOptions } from './mesh.js';
import { parseMeshOptions, type ResolvedMeshOptions } from './options.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { createMeshTelemetry } from './telemetry.js';

let defaultMesh: Promise<Mesh> | undefined;
// ---- telemetry (issue 6): a server wrapped before the default mesh exists builds its stack at once, with
// the telemetry the mesh will use; so the default mesh's telemetry is made on first need, by either side.
let defaultTelemetry: { telemetry: MeshTelemetry | undefined } | undefined;

function sharedTelemetry(options: ResolvedMeshOptions): MeshTelemetry | undefined {
  return (defaultTelemetry ??= { telemetry: createMeshTelemetry(options) }).telemetry;
}
// ---- end telemetry

/** The process's default mesh, created from the environment on first call. */
export function getDefaultMesh(): Promise<Mesh> {
  if (defaultMesh) return defaultMesh;
  const input = optionsFromEnv();
  defaultMesh = Mesh.create(input, { telemetry: sharedTelemetry(parseMeshOptions(input)) }).catch((err: unknown) => {
    // Let a later call try again (the control plane may come up).
    defaultMesh = undefined;
    throw err;
  });
  return defaultMesh;
}

export const meshFetch: MeshFetch = async (input, init) => (await getDefaultMesh()).fetch(input, init);

export async function meshRequest(url: string | URL, options?: MeshRequestOptions): Promise<Dispatcher.ResponseData> {
  return (await getDefaultMesh()).request(url, options);
}

/**
 * wrapServer with the default mesh. The environment is checked now, so a
 * missing HYPHAE_SERVICE or HYPHAE_CONTROL_PLANE fails here, not at listen().
 */
export function wrapServer<S extends http.Server>(server: S, options: WrapServerOptions = {}): S {
  const opts = parseMeshOptions(optionsFromEnv());
  if (options.register !== false && !opts.service) {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `${ENV.SERVICE} is not set: wrapServer registers the server under that service name`, {
      details: { variable: ENV.SERVICE },
    });
  }
  return wrap(
    server,
    {
      registrar: async () => {
        const mesh = await getDefaultMesh();
        Mesh.adopt(mesh, server);
        return Mesh.registrarOf(mesh);
      },
      // The control plane's scheme says whether the mesh will have mTLS; the mesh itself comes later.
      ...(isSecure(opts.controlPlane) ? { tls: async () => Mesh.inboundTlsOf(await getDefaultMesh()) } : {}),
      logger: opts.logger ?? defaultLogger,
      defaults: {
        labels: opts.labels,
        drainDelayMs: opts.server.drainDelayMs,
        gracePeriodMs: opts.server.gracePeriodMs,
        advertiseAddress: opts.server.advertiseAddress,
        pathSemicolons: opts.server.pathSemicolons,
        listener: opts.server,
      },
      policies: defaultPolicySource(),
      telemetry: sharedTelemetry(opts),
    },
    options,
  );
}

function isSecure(cp: string | string[] | undefined): boolean {
  return (Array.isArray(cp) ? cp[0] : cp)?.startsWith('https:') ?? false;
}

/**
 * The default mesh's policy source. The mesh is created on first use, so the
 * subscription waits for it; when it cannot be created yet (control plane
 * down), it tries again with backoff, and the server's requests wait (then
 * 503) meanwhile rather than run unchecked.
 */
function defaultPolicySource(): PolicySource {
  return {
    subscribe(listener) {
      let dispose: (() => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      let closed = false;
      const attempt = (delayMs: number) => {
        getDefaultMesh().then(
          (mesh) => {
            if (closed) return;
            const source = Mesh.policySourceOf(mesh);
            if (source) dispose = source.subscribe(listener);
            else listener([]);
          },
          () => {
            if (closed) return;
            timer = setTimeout(() => attempt(Math.min(delayMs * 2, 30_000)), delayMs);
            timer.unref();
          },
        );
      };
      attempt(1_000);
      return () => {
        closed = true;
        clearTimeout(timer);
        dispose?.();
      };
    },
  };
}

/** Close the default mesh if one was created (tests, scripts that want a clean exit). */
export async function closeDefaultMesh(): Promise<void> {
  const m = defaultMesh;
  defaultMesh = undefined;
  if (m) await (await m.catch(() => undefined))?.close();
}
