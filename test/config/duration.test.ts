/** The one duration grammar, for config and flags (issue 19: the two parsers disagreed). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durationSchema } from '../../src/config/duration-schema.js';
import { parseDuration } from '../../src/config/duration.js';
import { durationFlag } from '../../src/cli/flags.js';

describe('parseDuration', () => {
  it('reads single and compound durations as the Gateway API and Go write them', () => {
    const cases: [string, number][] = [
      ['250ms', 250],
      ['2s', 2000],
      ['1.5m', 90_000],
      ['1h', 3_600_000],
      ['90d', 90 * 86_400_000],
      ['1h30m', 5_400_000],
      ['2m30s', 150_000],
      ['1h0m0s', 3_600_000],
      ['1s500ms', 1500],
      [' 10s ', 10_000],
      ['0s', 0],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  it('refuses what is not a duration, and never guesses the unit of a bare number', () => {
    for (const text of ['', '30', '1.5', 's', '1x', '30m1h', '1m1m', '1.5h30m', '-1s', '1 s', '1e3ms', '1h30', `${'1'.repeat(70)}s`]) {
      assert.equal(parseDuration(text), undefined, text);
    }
  });
});

describe('durations in config and in flags agree', () => {
  const schema = durationSchema({ max: 86_400_000 });

  it('config takes the compound form; a YAML number is milliseconds, a unitless string is refused with the fix', () => {
    assert.equal(schema.parse('1h30m'), 5_400_000);
    assert.equal(schema.parse(250), 250);
    const r = schema.safeParse('30');
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0]!.message, /"30" has no unit: write 30s or 30ms/);
    assert.match(schema.safeParse('soon').error!.issues[0]!.message, /must be a duration like "250ms", "2s", "1m30s", "1h" or "90d", got "soon"/);
  });

  it('a flag reads the same text to the same value, and refuses a bare number with the fix', () => {
    for (const text of ['250ms', '1h30m', '2m30s', '90d']) assert.equal(durationFlag('x', text, 0, 365 * 86_400_000), parseDuration(text), text);
    assert.throws(() => durationFlag('cert-ttl', '30', 1000, 86_400_000), /--cert-ttl must be a duration such as 30s, 10m, 1h30m or 90d, from 1s to 1d, got "30" \(no unit: write 30s or 30ms\)/);
    assert.throws(() => durationFlag('cert-ttl', '2d', 1000, 86_400_000), /from 1s to 1d, got "2d"$/);
  });
});
