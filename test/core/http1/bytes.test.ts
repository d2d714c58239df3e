/** equalsLower (src/core/http1/bytes.ts): a field name or option compared without a string, letters folded only. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { equalsLower } from '../../../src/core/http1/bytes.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const eq = (bytes: string, lower: string) => equalsLower(b(bytes), 0, bytes.length, lower);

describe('equalsLower', () => {
  it('folds ASCII letters in any case', () => {
    assert.equal(eq('Keep-Alive', 'keep-alive'), true);
    assert.equal(eq('CONTENT-LENGTH', 'content-length'), true);
    assert.equal(eq('close', 'close'), true);
  });

  it('matches a byte that is not a letter only exactly: CR | 0x20 is "-", and must not stand for it', () => {
    assert.equal(eq('keep\ralive', 'keep-alive'), false);
    assert.equal(eq('content\rlength', 'content-length'), false);
    // Other bytes one bit from a letter's other case: '@' | 0x20 is '`', '[' | 0x20 is '{'.
    assert.equal(eq('a@', 'a`'), false);
    assert.equal(eq('a[', 'a{'), false);
    assert.equal(eq('keep-alivE', 'keep-alive'), true);
  });

  it('differs on length and on any letter', () => {
    assert.equal(eq('keep-aliv', 'keep-alive'), false);
    assert.equal(eq('keep-alivf', 'keep-alive'), false);
  });
});
