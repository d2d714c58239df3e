/**
 * The zero-config form: `import { meshFetch, wrapServer } from 'hyphae'` uses
 * one default mesh per process, an ordinary Mesh made from environment
 * variables on first use and started by whatever needs it first (Mesh does the
 * waiting and the retrying). Nothing happens at import time.
 */
import type { Dispatcher } from 'undici';
import type { WrapServerOptions, WrappableServer } from '../server/wrap-server.js';
import { optionsFromEnv } from './env.js';
import { Mesh, type MeshFetch, type MeshRequestOptions } from './mesh.js';

let defaultMesh: Mesh | undefined;

/** Made on first use; a bad environment throws here (HYPHAE_ERR_INVALID_OPTIONS naming the variable) and is read again next time. */
function mesh(): Mesh {
  return (defaultMesh ??= new Mesh(optionsFromEnv()));
}

/** The process's default mesh, started (a failed start is tried again on the next call: the control plane may come up). */
export function getDefaultMesh(): Promise<Mesh> {
  try {
    return mesh().start();
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

export const meshFetch: MeshFetch = (input, init) => {
  try {
    return mesh().fetch(input, init);
  } catch (err) {
    return Promise.reject(err as Error);
  }
};

export function meshRequest(url: string | URL, options?: MeshRequestOptions): Promise<Dispatcher.ResponseData> {
  try {
    return mesh().request(url, options);
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/**
 * wrapServer with the default mesh. The environment is checked now, so a
 * missing HYPHAE_SERVICE or HYPHAE_CONTROL_PLANE fails here, not at listen().
 */
export function wrapServer<S extends WrappableServer>(server: S, options: WrapServerOptions = {}): S {
  return mesh().wrapServer(server, options);
}

/** Close the default mesh if one was made (tests, scripts that want a clean exit); the next use makes a new one. */
export async function closeDefaultMesh(): Promise<void> {
  const m = defaultMesh;
  defaultMesh = undefined;
  await m?.close();
}
