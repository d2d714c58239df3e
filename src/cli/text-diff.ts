/**
 * A unified line diff (LCS by dynamic programming: resources are a few
 * hundred lines at most), with 3 lines of context around each change.
 */
export function unifiedDiff(before: string, after: string, labelA: string, labelB: string, context = 3): string {
  const a = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  const ops = diffLines(a, b);
  if (ops.every((o) => o.op === ' ')) return '';
  const out = [`--- ${labelA}`, `+++ ${labelB}`];
  // Hunks: each change with `context` lines around it; changes whose contexts touch share a hunk.
  const changed = ops.flatMap((o, k) => (o.op === ' ' ? [] : [k]));
  let h = 0;
  while (h < changed.length) {
    const start = Math.max(0, changed[h]! - context);
    let end = Math.min(ops.length, changed[h]! + context + 1);
    while (h + 1 < changed.length && changed[h + 1]! - context <= end) end = Math.min(ops.length, changed[++h]! + context + 1);
    h++;
    const before = ops.slice(0, start);
    const hunk = ops.slice(start, end);
    const aStart = before.filter((o) => o.op !== '+').length + 1;
    const bStart = before.filter((o) => o.op !== '-').length + 1;
    const aLen = hunk.filter((o) => o.op !== '+').length;
    const bLen = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${aLen === 0 ? aStart - 1 : aStart},${aLen} +${bLen === 0 ? bStart - 1 : bStart},${bLen} @@`);
    for (const o of hunk) out.push(`${o.op}${o.line}`);
  }
  return `${out.join('\n')}\n`;
}

interface Op {
  op: ' ' | '-' | '+';
  line: string;
}

function diffLines(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ op: ' ', line: a[i]! });
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) ops.push({ op: '-', line: a[i++]! });
    else ops.push({ op: '+', line: b[j++]! });
  }
  while (i < n) ops.push({ op: '-', line: a[i++]! });
  while (j < m) ops.push({ op: '+', line: b[j++]! });
  return ops;
}
