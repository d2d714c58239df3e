/** The control plane itself: reachable, healthy, the same version as this CLI, the same clock, a valid CA. */
import { skewWarning } from '../version-skew.js';
import type { CaFact, Facts, HealthFact } from './facts.js';
import type { CheckResult } from './result.js';

const CATEGORY = 'control plane';
const DAY_MS = 86_400_000;
/** Under this many days left the CA is a warning: time to plan a root rotation (docs/usage.md, Root rotation). */
export const CA_WARN_DAYS = 30;
/** Skew up to this is noise (the Date header has whole seconds; the request takes time). */
export const CLOCK_WARN_MS = 5_000;
/**
 * The CA backdates certificates by 60 s (control-plane/ca/issue.ts): a clock further behind than that sees a
 * new certificate as not yet valid, and one further ahead sees short-lived ones expire early.
 */
export const CLOCK_FAIL_MS = 60_000;

export function controlPlaneChecks(f: Facts): CheckResult[] {
  const out: CheckResult[] = [];
  const add = (check: string, verdict: CheckResult['verdict'], message: string, hint?: string) => out.push({ category: CATEGORY, check, verdict, message, ...(hint !== undefined && { hint }) });

  if (!f.health.ok) {
    add('reachable', 'fail', `cannot reach the control plane: ${f.health.error}`, f.health.hint ?? 'is it running, and is --control-plane (HYPHAE_CONTROL_PLANE) its address?');
    return out;
  }
  const h = f.health.value;
  add('reachable', 'ok', `the control plane is reachable at ${f.url}`);
  if (h.status === 200 && h.body.status === 'ok') {
    add('healthy', 'ok', `the control plane is healthy (store ${h.body.store?.store ?? 'file'}, configuration revision ${h.body.revision})`);
  } else {
    add(
      'healthy',
      'fail',
      `the control plane is ${h.body.status ?? 'unhealthy'}${h.body.store?.error ? `: store: ${h.body.store.error}` : ''}`,
      'its store cannot be reached: check etcd (--etcd-endpoints) or the data directory, and the control plane log',
    );
  }
  if (!f.tokenGiven && f.url.startsWith('https://')) {
    add('token', 'warn', 'no token given: the checks below that read the mesh will be refused', 'give --token-file <file> (HYPHAE_ADMIN_TOKEN_FILE): the admin token or a viewer token');
  }
  const skew = skewWarning(f.clientVersion, h.body.version);
  if (skew) add('version', 'warn', skew, 'hyphae version shows both; install the CLI from the same release as the control plane');
  else add('version', 'ok', `the CLI (${f.clientVersion}) and the control plane (${h.body.version}) are the same version`);
  out.push(clockCheck(h));
  out.push(caCheck(f));
  return out;
}

/**
 * This machine's clock minus the control plane's, as little as the Date header allows: the server read its
 * clock somewhere between our send and our receipt, and Date drops the milliseconds (so it is up to 1 s behind).
 * 0 when the two can agree; undefined without a Date header.
 */
export function clockSkewMs(h: Pick<HealthFact, 'date' | 'sentAt' | 'receivedAt'>): number | undefined {
  const server = h.date === undefined ? NaN : Date.parse(h.date);
  if (Number.isNaN(server)) return undefined;
  if (h.sentAt > server + 1000) return h.sentAt - (server + 1000);
  if (h.receivedAt < server) return h.receivedAt - server;
  return 0;
}

function clockCheck(h: HealthFact): CheckResult {
  const base = { category: CATEGORY, check: 'clock-skew' };
  const skew = clockSkewMs(h);
  if (skew === undefined) return { ...base, verdict: 'warn', message: 'cannot measure clock skew: the control plane sent no Date header', hint: 'is a proxy in between rewriting the answer?' };
  const abs = Math.abs(skew);
  const said = `this machine's clock is ${seconds(abs)} ${skew > 0 ? 'ahead of' : 'behind'} the control plane's`;
  const hint = 'synchronise the clocks (NTP: timedatectl set-ntp true, chronyc tracking): certificates are checked against them';
  if (abs > CLOCK_FAIL_MS) return { ...base, verdict: 'fail', message: `${said}, more than the ${CLOCK_FAIL_MS / 1000} s certificates are backdated by`, hint };
  if (abs > CLOCK_WARN_MS) return { ...base, verdict: 'warn', message: said, hint };
  return { ...base, verdict: 'ok', message: `clocks agree with the control plane's (within ${CLOCK_WARN_MS / 1000} s)` };
}

function caCheck(f: Facts): CheckResult {
  const base = { category: CATEGORY, check: 'ca-valid' };
  if (!f.ca.ok) return { ...base, verdict: 'fail', message: `cannot read the CA: ${f.ca.error}`, ...(f.ca.hint && { hint: f.ca.hint }) };
  if (f.ca.value === 'insecure') {
    return {
      ...base,
      verdict: 'warn',
      message: 'the control plane has no CA (--insecure): no mTLS, no tokens',
      hint: 'for anything but a laptop, run it without --insecure (docs/usage.md, --insecure)',
    };
  }
  const ca: CaFact = f.ca.value;
  const active = ca.authorities.find((a) => a.active);
  if (!active) return { ...base, verdict: 'fail', message: 'the CA names no active authority', hint: 'see GET /v1/ca and the control plane log' };
  const left = Date.parse(active.notAfter) - f.now;
  const days = Math.floor(left / DAY_MS);
  const rotate = `stage a new root with "hyphae ca rotate", wait for workloads to renew, then "hyphae ca retire" (docs/usage.md, Root rotation)`;
  if (left <= 0) return { ...base, verdict: 'fail', message: `the CA of ${ca.trustDomain} expired at ${active.notAfter}`, hint: rotate };
  if (days < CA_WARN_DAYS) return { ...base, verdict: 'warn', message: `the CA of ${ca.trustDomain} expires in ${days} days (${active.notAfter})`, hint: rotate };
  const staged = ca.authorities.length > 1 ? `; ${ca.authorities.length} roots in the bundle (a rotation in progress)` : '';
  return { ...base, verdict: 'ok', message: `the CA of ${ca.trustDomain} is valid for ${days} more days (until ${active.notAfter.slice(0, 10)})${staged}` };
}

function seconds(ms: number): string {
  return ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}
