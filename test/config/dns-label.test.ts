/**
 * The DNS label rule without zod (src/config/dns-label.ts): the same verdicts as nameSchema, which is built on
 * it, and as clusterFromHeader gives on a response's cluster header (src/config/cluster-header.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterFromHeader } from '../../src/config/cluster-header.js';
import { isDnsLabel } from '../../src/config/dns-label.js';
import { nameSchema } from '../../src/config/names.js';

const GOOD = ['a', '0', 'default', 'eu-west-1', 'a-b-c', 'x'.repeat(63), '9lives'];
const BAD = ['', 'A', 'Default', '-a', 'a-', 'a.b', 'a_b', 'a b', 'x'.repeat(64), 'a\n', '\na', 'é', 'a/b', 'x'.repeat(1_000_000)];

test('a DNS label: lower-case letters, digits and inner "-", 1 to 63 characters', () => {
  for (const v of GOOD) assert.equal(isDnsLabel(v), true, JSON.stringify(v));
  for (const v of BAD) assert.equal(isDnsLabel(v), false, JSON.stringify(v.slice(0, 70)));
});

test('the same verdict as nameSchema, and as clusterFromHeader on a header', () => {
  for (const v of [...GOOD, ...BAD]) {
    const shown = JSON.stringify(v.slice(0, 70));
    assert.equal(nameSchema.safeParse(v).success, isDnsLabel(v), shown);
    assert.equal(clusterFromHeader(v), isDnsLabel(v) ? v : undefined, shown);
  }
  // A header Node gives as a list (sent twice), or none: no cluster.
  assert.equal(clusterFromHeader(['east', 'west']), undefined);
  assert.equal(clusterFromHeader(undefined), undefined);
});
