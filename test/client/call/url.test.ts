import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meshServiceOf, splitUrl } from '../../../src/client/call/url.js';

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
