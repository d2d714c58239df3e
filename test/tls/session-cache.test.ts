/**
 * The session cache's lifetimes and bounds on a fake clock: a session is
 * given out until the server certificate's end or five minutes, whichever is
 * first; per client context; the oldest evicted past the cap.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSecureContext } from 'node:tls';
import { sessionKey, TlsSessionCache } from '../../src/tls/session-cache.js';

const session = (n: number) => Buffer.from([n]);

describe('TlsSessionCache', () => {
  it('gives a session out until five minutes have passed', () => {
    let now = 1_000_000;
    const cache = new TlsSessionCache(() => now);
    const ctx = createSecureContext();
    cache.set(ctx, 'k', session(1), now + 3_600_000);
    now += 299_999;
    assert.deepEqual(cache.get(ctx, 'k'), session(1));
    now += 1;
    assert.equal(cache.get(ctx, 'k'), undefined);
  });

  it("never past the server certificate's end, and not at all once it has passed", () => {
    let now = 1_000_000;
    const cache = new TlsSessionCache(() => now);
    const ctx = createSecureContext();
    cache.set(ctx, 'k', session(1), now + 10_000);
    now += 9_999;
    assert.deepEqual(cache.get(ctx, 'k'), session(1));
    now += 1;
    assert.equal(cache.get(ctx, 'k'), undefined);
    cache.set(ctx, 'k', session(2), now);
    assert.equal(cache.get(ctx, 'k'), undefined);
    cache.set(ctx, 'k', session(3), Number.NaN);
    assert.equal(cache.get(ctx, 'k'), undefined, 'an unreadable end of validity files nothing');
  });

  it('is per client context, and drop() forgets one key', () => {
    const cache = new TlsSessionCache(() => 0);
    const a = createSecureContext();
    const b = createSecureContext();
    cache.set(a, 'k', session(1), 1e9);
    cache.set(a, 'j', session(2), 1e9);
    assert.equal(cache.get(b, 'k'), undefined);
    cache.drop(a, 'k');
    assert.equal(cache.get(a, 'k'), undefined);
    assert.deepEqual(cache.get(a, 'j'), session(2));
  });

  it('holds at most 4096 endpoints a context, evicting the least recently filed', () => {
    const cache = new TlsSessionCache(() => 0);
    const ctx = createSecureContext();
    for (let i = 0; i < 4097; i++) cache.set(ctx, `k${i}`, session(i % 256), 1e9);
    assert.equal(cache.get(ctx, 'k0'), undefined);
    assert.deepEqual(cache.get(ctx, 'k1'), session(1));
    assert.deepEqual(cache.get(ctx, 'k4096'), session(0));
  });

  it('files a session under the identity, the address, the SNI and the ALPN list', () => {
    const base = sessionKey('spiffe://td/ns/default/sa/api', '10.0.0.1', 443, undefined, ['http/1.1']);
    const others = [
      sessionKey('spiffe://td/ns/default/sa/web', '10.0.0.1', 443, undefined, ['http/1.1']),
      sessionKey('spiffe://td/ns/default/sa/api', '10.0.0.2', 443, undefined, ['http/1.1']),
      sessionKey('spiffe://td/ns/default/sa/api', '10.0.0.1', 444, undefined, ['http/1.1']),
      sessionKey('spiffe://td/ns/default/sa/api', '10.0.0.1', 443, 'api.default.mesh', ['http/1.1']),
      sessionKey('spiffe://td/ns/default/sa/api', '10.0.0.1', 443, undefined, ['h2', 'http/1.1']),
    ];
    assert.equal(new Set([base, ...others]).size, 6);
  });
});
