/**
 * `server.pathSemicolons` (HYPHAE_PATH_SEMICOLONS) reaches every server the
 * mesh wraps, a server's own `pathSemicolons` wins over it, and a bad value is
 * refused when the server is wrapped. Real servers, raw sockets.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createMesh, ErrorCode, MeshError, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { silentLogger } from '../../src/core/logger.js';
import type { WrapServerOptions } from '../../src/server/wrap-server.js';
import { rawRequest } from '../helpers/raw-http.js';

/** What the handler of a server wrapped by `mesh` is given for `target` (or the refusal's status). */
async function seenBy(mesh: Mesh, options: WrapServerOptions, target: string): Promise<string> {
  let url: string | undefined;
  const server = mesh.wrapServer(
    http.createServer((req, res) => {
      url = req.url;
      res.end();
    }),
    { register: false, ...options },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const reply = await rawRequest((server.address() as AddressInfo).port, { target });
    return reply.status === 200 ? url! : String(reply.status);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => http.Server.prototype.close.call(server, () => resolve()));
  }
}

describe('pathSemicolons through the mesh', () => {
  it('default strip; the mesh option applies to its servers; a server option wins', async () => {
    const plain = await createMesh({ resolver: new StaticResolver(), logger: silentLogger, server: { drainDelayMs: 0 } });
    const rejecting = await createMesh({ resolver: new StaticResolver(), logger: silentLogger, server: { drainDelayMs: 0, pathSemicolons: 'reject' } });
    try {
      assert.equal(await seenBy(plain, {}, '/public/a;b?q=1'), '/public/a?q=1');
      assert.equal(await seenBy(plain, { pathSemicolons: 'keep' }, '/public/a;b?q=1'), '/public/a;b?q=1');
      assert.equal(await seenBy(rejecting, {}, '/public/a;b'), '400');
      assert.equal(await seenBy(rejecting, {}, '/public/a?b=;'), '/public/a?b=;');
      assert.equal(await seenBy(rejecting, { pathSemicolons: 'strip' }, '/public/a;b'), '/public/a');
    } finally {
      await plain.close();
      await rejecting.close();
    }
  });

  it('a value other than strip, reject or keep is refused when the server is wrapped', async () => {
    const mesh = await createMesh({ resolver: new StaticResolver(), logger: silentLogger });
    try {
      assert.throws(
        () => mesh.wrapServer(http.createServer(), { register: false, pathSemicolons: 'cut' as never }),
        (e: unknown) => e instanceof MeshError && e.code === ErrorCode.INVALID_OPTIONS && /pathSemicolons/.test(e.message),
      );
    } finally {
      await mesh.close();
    }
  });
});
