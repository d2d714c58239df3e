/** The DER encoder under the workload's CSR, against byte strings from X.690 and RFC 5280 examples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bitString, ia5Content, nullValue, oid, pem, sequence, smallInteger, tlv } from '../../src/tls/der.js';

const hex = (b: Buffer) => b.toString('hex');

describe('DER', () => {
  it('encodes OIDs base 128, the first two arcs in one octet', () => {
    assert.equal(hex(oid('2.5.4.3')), '0603550403');
    assert.equal(hex(oid('2.5.29.17')), '0603551d11');
    assert.equal(hex(oid('1.2.840.113549.1.1.11')), '06092a864886f70d01010b');
    assert.equal(hex(oid('1.2.840.113549.1.9.14')), '06092a864886f70d01090e');
    assert.throws(() => oid('1'), RangeError);
    assert.throws(() => oid('1.x.3'), RangeError);
  });

  it('writes short lengths below 128 and long ones with their byte count first', () => {
    for (const [n, head] of [
      [0, '0400'],
      [127, '047f'],
      [128, '048180'],
      [255, '0481ff'],
      [256, '04820100'],
      [70_000, '0483011170'],
    ] as const) {
      const b = tlv(0x04, Buffer.alloc(n, 0xab));
      assert.equal(hex(b.subarray(0, head.length / 2)), head, `length ${n}`);
      assert.equal(b.length, head.length / 2 + n, `length ${n}: header then exactly the content`);
    }
  });

  it('wraps values as X.690 says', () => {
    assert.equal(hex(sequence(smallInteger(0), nullValue())), '30050201000500');
    assert.equal(hex(bitString(Buffer.from([0xde, 0xad]))), '030300dead');
    assert.equal(hex(tlv(0x86, ia5Content('a:b'))), '8603613a62');
    assert.throws(() => smallInteger(128), RangeError);
    assert.throws(() => ia5Content('é'), RangeError);
  });

  it('writes PEM in lines of 64 base64 characters', () => {
    const text = pem('THING', Buffer.alloc(100, 1));
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], '-----BEGIN THING-----');
    assert.equal(lines.at(-1), '-----END THING-----');
    assert.deepEqual(
      lines.slice(1, -1).map((l) => l.length),
      [64, 64, 8],
      '136 base64 characters for 100 bytes',
    );
    assert.deepEqual(Buffer.from(lines.slice(1, -1).join(''), 'base64'), Buffer.alloc(100, 1));
  });
});
