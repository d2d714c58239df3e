/** Which version differences `hyphae version` and `hyphae check` warn about (src/cli/version-skew.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { skewWarning, versionSkew } from '../../src/cli/version-skew.js';

describe('versionSkew', () => {
  it('tells a patch from a minor and a major, and refuses to guess', () => {
    assert.equal(versionSkew('0.1.0', '0.1.0'), 'none');
    assert.equal(versionSkew('0.1.0', 'v0.1.0+build.7'), 'none');
    assert.equal(versionSkew('0.1.0', '0.1.3'), 'patch');
    assert.equal(versionSkew('0.1.0', '0.1.0-rc.1'), 'patch');
    assert.equal(versionSkew('0.1.0', '0.2.0'), 'minor');
    assert.equal(versionSkew('1.4.2', '2.4.2'), 'major');
    assert.equal(versionSkew('0.1.0', undefined), 'unknown');
    assert.equal(versionSkew('0.1.0', 'latest'), 'unknown');
  });

  it('warns on minor, major and unknown, not on a patch', () => {
    assert.equal(skewWarning('0.1.0', '0.1.9'), undefined);
    assert.match(skewWarning('0.1.0', '0.3.0') ?? '', /the CLI is 0\.1\.0 and the control plane 0\.3\.0 \(a minor version apart\)/);
    assert.match(skewWarning('0.1.0', undefined) ?? '', /does not say its version/);
    assert.match(skewWarning('0.1.0', 'dev') ?? '', /cannot compare/);
  });
});
