import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meshServiceOf, splitUrl } from '../../../src/client/call/url.js';

describe('splitUrl', () => {
  it('splits origin from path and query', () => {
    assert.deepEqual(splitUrl('http://api/items?x=1'), { origin: 'http://api', path: '/items?x=1' });
    assert.deepEqual(splitUrl('http://127.0.0.1:8080/a/b'), { origin: 'http://127.0.0.1:8080', path: '/a/b' });
    assert.deepEqual(splitUrl('https://example.com/'), { origin: 'https://example.com', path: '/' });
  });

  it('no path gives "/"', () => {
    assert.deepEqual(splitUrl('http://api'), { origin: 'http://api', path: '/' });
    assert.deepEqual(splitUrl('http://api:81'), { origin: 'http://api:81', path: '/' });
  });

  it('a query with no path gets a leading "/"', () => {
    assert.deepEqual(splitUrl('http://api?x=1&y=2'), { origin: 'http://api', path: '/?x=1&y=2' });
  });

  it('drops the fragment, wherever it is', () => {
    assert.deepEqual(splitUrl('http://api/items#top'), { origin: 'http://api', path: '/items' });
    assert.deepEqual(splitUrl('http://api/items?x=1#top'), { origin: 'http://api', path: '/items?x=1' });
    assert.deepEqual(splitUrl('http://api#top'), { origin: 'http://api', path: '/' });
    assert.deepEqual(splitUrl('http://api?x=1#top'), { origin: 'http://api', path: '/?x=1' });
    assert.deepEqual(splitUrl('http://api/a#b?c'), { origin: 'http://api', path: '/a' });
  });

  it('keeps "?" and "/" inside the query as they are', () => {
    assert.deepEqual(splitUrl('http://api/p?next=/a/b?c'), { origin: 'http://api', path: '/p?next=/a/b?c' });
  });

  it('accepts URL objects (origin normalised by URL, fragment dropped)', () => {
    assert.deepEqual(splitUrl(new URL('http://api/items?x=1#frag')), { origin: 'http://api', path: '/items?x=1' });
    assert.deepEqual(splitUrl(new URL('http://api')), { origin: 'http://api', path: '/' });
    assert.deepEqual(splitUrl(new URL('http://API:80/A')), { origin: 'http://api', path: '/A' });
    assert.deepEqual(splitUrl(new URL('http://api?q')), { origin: 'http://api', path: '/?q' });
  });

  it('agrees with new URL() on ordinary URLs', () => {
    for (const s of ['http://api/x/y?z=1', 'http://api?z', 'http://api#f', 'http://a-b:9/p#f', 'http://10.0.0.1:80/x?y#z']) {
      const u = new URL(s);
      assert.equal(splitUrl(s).path, u.pathname + u.search, s);
    }
  });

  it('throws a TypeError without a scheme', () => {
    assert.throws(() => splitUrl('api/items'), TypeError);
    assert.throws(() => splitUrl('/items'), TypeError);
  });
});

describe('meshServiceOf', () => {
  it('a single lower-case DNS label over http is a mesh service', () => {
    assert.equal(meshServiceOf('http://api'), 'api');
    assert.equal(meshServiceOf('http://api/'), 'api');
    assert.equal(meshServiceOf('http://user-service'), 'user-service');
    assert.equal(meshServiceOf('http://a'), 'a');
    assert.equal(meshServiceOf('http://v2'), 'v2');
    assert.equal(meshServiceOf(`http://${'a'.repeat(63)}`), 'a'.repeat(63));
  });

  it('names with dots are not (FQDNs, IPv4)', () => {
    assert.equal(meshServiceOf('http://api.example.com'), undefined);
    assert.equal(meshServiceOf('http://api.'), undefined);
    assert.equal(meshServiceOf('http://127.0.0.1'), undefined);
    assert.equal(meshServiceOf('http://10.1.2.3'), undefined);
  });

  it('IPv6 literals are not', () => {
    assert.equal(meshServiceOf('http://[::1]'), undefined);
    assert.equal(meshServiceOf('http://[::1]:8080'), undefined);
  });

  it('hosts with a port are not', () => {
    assert.equal(meshServiceOf('http://api:8080'), undefined);
    assert.equal(meshServiceOf('http://api:80'), undefined);
  });

  it('localhost is not', () => {
    assert.equal(meshServiceOf('http://localhost'), undefined);
    assert.equal(meshServiceOf('http://localhost/'), undefined);
  });

  it('https and other schemes are not', () => {
    assert.equal(meshServiceOf('https://api'), undefined);
    assert.equal(meshServiceOf('ws://api'), undefined);
    assert.equal(meshServiceOf('HTTP://api'), undefined);
  });

  it('host names are case-insensitive: an upper-case host names the lower-case service', () => {
    assert.equal(meshServiceOf('http://API'), 'api');
    assert.equal(meshServiceOf('http://Api/'), 'api');
  });

  it('labels that are not valid DNS labels are not', () => {
    assert.equal(meshServiceOf('http://'), undefined);
    assert.equal(meshServiceOf('http://-api'), undefined);
    assert.equal(meshServiceOf('http://api-'), undefined);
    assert.equal(meshServiceOf('http://my_api'), undefined);
    assert.equal(meshServiceOf(`http://${'a'.repeat(64)}`), undefined);
    assert.equal(meshServiceOf('http://user@api'), undefined);
  });

  it('works on what splitUrl returns', () => {
    assert.equal(meshServiceOf(splitUrl('http://api/items?x=1').origin), 'api');
    assert.equal(meshServiceOf(splitUrl('http://api?x').origin), 'api');
    assert.equal(meshServiceOf(splitUrl('http://api#f').origin), 'api');
    assert.equal(meshServiceOf(splitUrl('http://api:9000/x').origin), undefined);
    assert.equal(meshServiceOf(splitUrl(new URL('http://API/x')).origin), 'api');
  });
});
