/** The data plane, from the stats summary the control plane serves: instances, their certificates, their reports. */
import type { Facts } from './facts.js';
import type { CheckResult } from './result.js';

const CATEGORY = 'data plane';

export function meshChecks(f: Facts): CheckResult[] {
  const out: CheckResult[] = [];
  const add = (check: string, verdict: CheckResult['verdict'], message: string, hint?: string) => out.push({ category: CATEGORY, check, verdict, message, ...(hint !== undefined && { hint }) });
  if (!f.summary.ok) {
    if (f.health.ok) add('summary', 'fail', `cannot read the stats summary: ${f.summary.error}`, f.summary.hint);
    return out;
  }
  const s = f.summary.value;

  // Certificates near expiry: the summary already judges them (a quarter of the lifetime left = renewal failing).
  const expired = s.warnings.filter((w) => w.kind === 'certificate-expired');
  const expiring = s.warnings.filter((w) => w.kind === 'certificate-expiring');
  const renewHint = 'its process cannot renew: check that it reaches the control plane and that its token is still valid (its log says why)';
  for (const w of expired) add('certificates', 'fail', w.message, renewHint);
  for (const w of expiring) add('certificates', 'warn', w.message, renewHint);
  if (expired.length + expiring.length === 0) {
    const certs = s.instances.flatMap((i) => (i.certificate ? [i.certificate.expiresInSeconds] : []));
    add(
      'certificates',
      'ok',
      certs.length === 0 ? 'no instance reports a certificate (none running, or no mTLS)' : `${certs.length} instance certificate${certs.length > 1 ? 's' : ''} valid, renewing on time`,
    );
  }

  const empty = s.services.filter((v) => v.instances === 0);
  for (const v of empty) {
    add(
      'service-instances',
      'warn',
      `service ${v.namespace}/${v.name} has no instances${v.hasConfig ? ' (it has a Service resource)' : ' (all have left)'}`,
      `calls to it fail with HYPHAE_ERR_NO_ENDPOINTS: start an instance, or delete the Service resource if it is gone for good`,
    );
  }
  if (empty.length === 0) add('service-instances', 'ok', `every service has instances (${s.services.length} service${s.services.length === 1 ? '' : 's'})`);

  const quiet = s.instances.filter((i) => i.health !== 'reporting');
  for (const i of quiet) {
    add(
      'instance-stats',
      'warn',
      i.health === 'silent' ? `${i.namespace}/${i.service} ${i.id} stopped reporting stats ${i.lastReportSeconds ?? '?'} s ago` : `${i.namespace}/${i.service} ${i.id} has not reported stats`,
      i.health === 'silent'
        ? 'its process may be stuck or cut off from the control plane while its lease is still held: look at it'
        : 'it started moments ago, or runs with telemetry.reportStats: false: the live views and these checks know nothing of its traffic',
    );
  }
  if (quiet.length === 0) add('instance-stats', 'ok', `every instance reports stats (${s.instances.length})`);
  return out;
}
