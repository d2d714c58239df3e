/**
 * The tracestate the mesh sends on (src/telemetry/tracestate.ts), case by
 * case against the W3C grammar and the spec's own test suite
 * (w3c/trace-context test/test.py, strict level 2): a valid list goes on
 * unchanged, anything invalid is discarded whole.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MEMBERS, sanitizeTracestate, validKey, validValue } from '../../src/telemetry/tracestate.js';

const key = (k: string) => validKey(k, 0, k.length);
const value = (v: string) => validValue(v, 0, v.length);
const KEYCHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
/** Every character a value may hold (0x20-0x7e but "," and "="), ending with one that is not a space. */
const VALUE_CHARS = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i))
  .filter((c) => c !== ',' && c !== '=')
  .join('');

describe('tracestate keys', () => {
  it('takes a simple key of 1 to 256 characters led by a lower-case letter', () => {
    assert.equal(key('a'), true);
    assert.equal(key(`a${KEYCHARS}`), true);
    assert.equal(key('z'.repeat(256)), true);
    assert.equal(key('z'.repeat(257)), false);
    assert.equal(key(''), false);
    for (const lead of ['0', '_', '-', '*', '/', 'A']) assert.equal(key(`${lead}abc`), false, `led by ${lead}`);
  });

  it('refuses upper case, dots, spaces and anything outside the key characters', () => {
    for (const k of ['FOO', 'fOo', 'foo.bar', 'foo ', ' foo', 'fo\to', 'foo=', 'foo,', 'föo', 'foo:bar']) assert.equal(key(k), false, JSON.stringify(k));
  });

  it('takes tenant@system: tenant 1-241 characters led by a letter or digit, system 1-14 led by a letter', () => {
    assert.equal(key('foo@bar'), true);
    assert.equal(key(`${KEYCHARS}@a-z0-9_-*/`), true);
    assert.equal(key('0tenant@sys'), true);
    assert.equal(key(`${'t'.repeat(241)}@${'v'.repeat(14)}`), true);
    assert.equal(key(`${'t'.repeat(242)}@v`), false);
    assert.equal(key(`t@${'v'.repeat(15)}`), false);
    for (const k of ['foo@', '@foo', 'foo@@bar', 'foo@bar@baz', 'foo@0bar', 'foo@_bar', '_foo@bar', 'foo@BAR']) assert.equal(key(k), false, k);
  });
});

describe('tracestate values', () => {
  it('takes 1 to 256 printable characters but "," and "=", the last not a space', () => {
    assert.equal(value(VALUE_CHARS), true);
    assert.equal(value(' leading spaces are part of it'), true);
    assert.equal(value('x'.repeat(256)), true);
    assert.equal(value('x'.repeat(257)), false);
    assert.equal(value(''), false);
    for (const v of ['bar=baz', 'a,b', 'ends in space ', 'tab\tinside', 'new\nline', 'del\x7f', 'ü']) assert.equal(value(v), false, JSON.stringify(v));
  });
});

describe('sanitizeTracestate', () => {
  it('sends a valid list on unchanged, order kept, as the very string', () => {
    const list = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,foo@bar=1';
    assert.equal(sanitizeTracestate(list), list);
    const all = `${`a${KEYCHARS}`}=${VALUE_CHARS}`;
    assert.equal(sanitizeTracestate(all), all);
  });

  it('drops optional whitespace and empty members, keeping every member and their order', () => {
    assert.equal(sanitizeTracestate('foo=1 \t , \t bar=2, \t baz=3'), 'foo=1,bar=2,baz=3');
    assert.equal(sanitizeTracestate('\t foo=1 \t'), 'foo=1');
    assert.equal(sanitizeTracestate('foo=1,,bar=2,'), 'foo=1,bar=2');
    // Several header lines, joined by ",", one of them empty.
    assert.equal(sanitizeTracestate(['foo=1', ''].join(',')), 'foo=1');
    assert.equal(sanitizeTracestate(['', 'foo=1'].join(',')), 'foo=1');
    assert.equal(sanitizeTracestate('foo= bar'), 'foo= bar', 'a leading space belongs to the value');
  });

  it('sends nothing for an empty or whitespace-only list', () => {
    for (const v of [undefined, '', ' ', ',', ' , \t,']) assert.equal(sanitizeTracestate(v), undefined, JSON.stringify(v));
  });

  it('discards the whole list for an illegal key, vendor format or value', () => {
    for (const v of ['foo =1', 'FOO=1', 'foo.bar=1', 'foo@=1,bar=2', '@foo=1,bar=2', 'foo@@bar=1,bar=2', 'foo@bar@baz=1,bar=2', 'foo=bar=baz', 'foo=,bar=3', 'foo', 'foo=1,bar', '=1']) {
      assert.equal(sanitizeTracestate(v), undefined, v);
    }
  });

  it('discards the whole list for a key or a tenant or system part over its length', () => {
    assert.equal(sanitizeTracestate(`foo=1,${'z'.repeat(256)}=1`), `foo=1,${'z'.repeat(256)}=1`);
    assert.equal(sanitizeTracestate(`foo=1,${'z'.repeat(257)}=1`), undefined);
    assert.equal(sanitizeTracestate(`foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`), `foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`);
    assert.equal(sanitizeTracestate(`foo=1,${'t'.repeat(242)}@v=1`), undefined);
    assert.equal(sanitizeTracestate(`foo=1,t@${'v'.repeat(15)}=1`), undefined);
  });

  it('discards the whole list for a duplicated key, whatever the values', () => {
    for (const v of ['foo=1,foo=1', 'foo=1,foo=2', 'foo=1,bar=2,foo=3', 'a@b=1,c=2,a@b=1']) assert.equal(sanitizeTracestate(v), undefined, v);
    // The same vendor in two tenants, or tenant and simple key of the same name, are different keys.
    assert.equal(sanitizeTracestate('t1@v=1,t2@v=2,v=3'), 't1@v=1,t2@v=2,v=3');
  });

  it(`keeps ${MAX_MEMBERS} members and discards the whole list at ${MAX_MEMBERS + 1}`, () => {
    const members = (n: number) => Array.from({ length: n }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${String(i + 1).padStart(2, '0')}`);
    const full = members(MAX_MEMBERS).join(',');
    assert.equal(sanitizeTracestate(full), full);
    assert.equal(sanitizeTracestate(members(MAX_MEMBERS + 1).join(',')), undefined);
    // Empty members do not count.
    assert.equal(sanitizeTracestate(`${full},,, `), full);
  });

  it('a hostile list (thousands of empty members, a huge member, thousands of members) is refused or reduced without a fault', () => {
    assert.equal(sanitizeTracestate(','.repeat(16_000)), undefined);
    assert.equal(sanitizeTracestate(` ${', '.repeat(8_000)}foo=1 `), 'foo=1');
    assert.equal(sanitizeTracestate(`foo=${'x'.repeat(16_000)}`), undefined);
    assert.equal(sanitizeTracestate(Array.from({ length: 4_000 }, (_, i) => `k${i}=v`).join(',')), undefined);
    assert.equal(sanitizeTracestate('a=1\u0000,b=2'), undefined);
  });

  it('keeps a valid list longer than 512 characters whole (the spec asks for at least 512)', () => {
    const long = Array.from({ length: 8 }, (_, i) => `k${i}=${'v'.repeat(200)}`).join(',');
    assert.ok(long.length > 512);
    assert.equal(sanitizeTracestate(long), long);
  });
});
