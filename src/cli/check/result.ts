/**
 * One line of `hyphae check`: a verdict, what was found, and for anything but
 * a pass a hint saying what to do, as `linkerd check` prints them.
 */

export type Verdict = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** The group it is printed under: `control plane`, `data plane`, `configuration`. */
  category: string;
  /** A stable name for scripts (`ca-valid`, `route-backends`...): one check may give several lines. */
  check: string;
  verdict: Verdict;
  message: string;
  hint?: string;
}

const MARK: Record<Verdict, string> = { ok: '√', warn: '‼', fail: '×' };

/** Exit 1 on a failed check; warnings alone still pass (0), as linkerd does. */
export function exitCode(results: readonly CheckResult[]): number {
  return results.some((r) => r.verdict === 'fail') ? 1 : 0;
}

export function renderText(results: readonly CheckResult[]): string {
  const out: string[] = [];
  let category: string | undefined;
  for (const r of results) {
    if (r.category !== category) {
      if (category !== undefined) out.push('');
      category = r.category;
      out.push(category, '-'.repeat(category.length));
    }
    out.push(`${MARK[r.verdict]} ${r.message}`);
    if (r.hint && r.verdict !== 'ok') out.push(`    hint: ${r.hint}`);
  }
  const failed = results.filter((r) => r.verdict === 'fail').length;
  const warned = results.filter((r) => r.verdict === 'warn').length;
  out.push('');
  out.push(
    failed > 0
      ? `Status check results are × (${failed} failed${warned > 0 ? `, ${warned} warning${warned > 1 ? 's' : ''}` : ''})`
      : `Status check results are √${warned > 0 ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}`,
  );
  return `${out.join('\n')}\n`;
}

/** What -o json and -o yaml print: the outcome, the counts, and every line. */
export function report(results: readonly CheckResult[]): { ok: boolean; failed: number; warnings: number; checks: readonly CheckResult[] } {
  return { ok: exitCode(results) === 0, failed: results.filter((r) => r.verdict === 'fail').length, warnings: results.filter((r) => r.verdict === 'warn').length, checks: results };
}
