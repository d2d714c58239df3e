/**
 * The gateway's listener certificates: a ClientHello takes the context as last loaded and looks at no file
 * (two statSync calls per new connection blocked the event loop); the periodic check and each snapshot
 * (refresh) re-read files that changed, and keep the last good context when they fail to load.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { ListenerSpec } from '../../src/config/resources/gateway.js';
import { silentLogger } from '../../src/core/logger.js';
import { TlsContexts } from '../../src/gateway/tls-contexts.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { hostCertificate } from '../helpers/gateway.js';

describe('TlsContexts', () => {
  it('current() loads once and then reads no file; refresh() re-reads a changed one and keeps the last good one on failure', async () => {
    const dir = await makeTempDir('hyphae-gw-ctx-');
    const first = await hostCertificate(dir, 'shop.example.com');
    const listener = { name: 'https', port: 8443, protocol: 'HTTPS', tls: { certificateFile: first.cert, keyFile: first.key } } as ListenerSpec;
    const contexts = new TlsContexts(silentLogger);

    const loaded = contexts.current(listener);
    assert.ok(loaded, 'loaded on first use');
    // A renewal on disk: a handshake still gets what was loaded, since it looks at no file.
    const renewed = await hostCertificate(await makeTempDir('hyphae-gw-ctx2-'), 'shop.example.com');
    await writeFile(first.key, await readFile(renewed.key));
    await writeFile(first.cert, await readFile(renewed.cert));
    assert.equal(contexts.current(listener), loaded);
    // The check re-reads it; handshakes then get the new one.
    const reloaded = contexts.refresh(listener);
    assert.ok(reloaded && reloaded !== loaded);
    assert.deepEqual(reloaded.cert, await readFile(renewed.cert));
    assert.equal(contexts.current(listener), reloaded);
    // A broken file: the last good context stays.
    await writeFile(first.cert, 'not a certificate');
    assert.equal(contexts.refresh(listener), reloaded);
    assert.equal(contexts.current(listener), reloaded);
  });
});
