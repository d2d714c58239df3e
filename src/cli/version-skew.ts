/**
 * Whether the CLI and the control plane are far enough apart in version to
 * disagree about the API: like kubectl, istioctl and linkerd, a different
 * minor or major is worth a warning (before 1.0 a minor may break), a patch is not.
 */

export type Skew = 'none' | 'patch' | 'minor' | 'major' | 'unknown';

export function versionSkew(client: string, server: string | undefined): Skew {
  const a = parse(client);
  const b = server === undefined ? undefined : parse(server);
  if (!a || !b) return 'unknown';
  if (a[0] !== b[0]) return 'major';
  if (a[1] !== b[1]) return 'minor';
  return a[2] === b[2] && a[3] === b[3] ? 'none' : 'patch';
}

/** `1.2.3` or `1.2.3-rc.1` (a build `+meta` ignored, as semver says); anything else is unknown. */
function parse(v: string): [number, number, number, string] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] ?? ''] : undefined;
}

/** The warning for a skew worth one, naming which side to upgrade; undefined when there is none. */
export function skewWarning(client: string, server: string | undefined): string | undefined {
  const skew = versionSkew(client, server);
  if (skew === 'none' || skew === 'patch') return undefined;
  if (skew === 'unknown') {
    return server === undefined
      ? `the control plane does not say its version (older than ${client}?): this CLI ${client} may not match it`
      : `cannot compare the CLI's version ${client} with the control plane's ${server}`;
  }
  return `the CLI is ${client} and the control plane ${server} (a ${skew} version apart): use a CLI of the control plane's version, or upgrade the older side`;
}
