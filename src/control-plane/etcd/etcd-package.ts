/**
 * The `etcd3` client is an optional peer dependency: only `--store etcd`
 * needs it, and it brings gRPC and protobufjs (most of an install's size),
 * so a plain `npm install hyphae` leaves it out. This is the one place that
 * decides whether it is there, and says what to run when it is not.
 */
import { ErrorCode, MeshError } from '../../core/errors.js';

/** Kept equal to package.json's peerDependencies.etcd3 by test/control-plane/etcd-package.test.ts. */
export const ETCD3_VERSION_RANGE = '^1.1.2';

export const ETCD3_INSTALL_COMMAND = `npm install etcd3@${ETCD3_VERSION_RANGE}`;

/**
 * Imports the etcd backend, after checking that the client package itself
 * resolves: Node's `ERR_MODULE_NOT_FOUND` for that package becomes
 * HYPHAE_ERR_INVALID_OPTIONS with the command to run; anything else (a
 * dependency missing inside a broken etcd3 install) is thrown as is.
 * `client` is the package's name, another one only in tests.
 */
export async function importEtcdBackend(client = 'etcd3'): Promise<typeof import('./backend.js')> {
  try {
    await import(client);
  } catch (err) {
    if (isMissingPackage(err, client)) {
      throw new MeshError(
        ErrorCode.INVALID_OPTIONS,
        `--store etcd needs the etcd3 package, an optional peer dependency of hyphae that is not installed: run \`${ETCD3_INSTALL_COMMAND}\` where hyphae is installed`,
        { cause: err, details: { install: ETCD3_INSTALL_COMMAND } },
      );
    }
    throw err;
  }
  return import('./backend.js');
}

function isMissingPackage(err: unknown, name: string): boolean {
  if (!(err instanceof Error) || (err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') return false;
  // "Cannot find package 'etcd3' imported from …", not a module missing inside the package (its own dependencies).
  return err.message.includes(`'${name}'`);
}
