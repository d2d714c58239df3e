/** splitUrl: origin and path of a mesh URL without new URL() (src/core/split-url.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitUrl } from '../../src/core/split-url.js';

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
