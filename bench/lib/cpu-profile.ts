/**
 * A V8 CPU profile (`node --cpu-prof`) summed for a terminal: self time per function and per file, and
 * time inside each of our files (bench/server-profile.ts, bench/proxy-pair.ts --profile).
 */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const shortUrl = (url: string) => url.replace(/^file:\/\//, '').replace(/.*\/(build|node_modules)\//, '$1/');

/**
 * Self time per function and per file, and time spent inside each of our server files (inclusive),
 * in % of the busy samples of the last `windowMs` of the profile (the measured load: start-up and the
 * warm-up are left out).
 */
export function summarizeProfile(profile: Profile, top: number, windowMs: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  let first = profile.samples.length;
  for (let t = 0; first > 0 && t < windowMs * 1000;) t += profile.timeDeltas[--first] ?? 0;
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let total = 0;
  let all = 0;
  for (let i = first; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)!;
    const name = node.callFrame.functionName || '(anonymous)';
    const dt = profile.timeDeltas[i] ?? 0;
    all += dt;
    if (name === '(idle)' || name === '(program)') continue;
    total += dt;
    const url = shortUrl(node.callFrame.url);
    add(fn, `${name}  ${url}:${node.callFrame.lineNumber + 1}`, dt);
    add(file, url || `(${name})`, dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const u = shortUrl(byId.get(id)!.callFrame.url);
      if (u.startsWith('build/src/') && !seen.has(u)) {
        seen.add(u);
        add(inclusive, u, dt);
      }
    }
  }
  const lines = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${((100 * v) / total).toFixed(2).padStart(6)} %  ${k}`)
      .join('\n');
  return (
    `window ${(all / 1e6).toFixed(2)} s, busy ${(total / 1e6).toFixed(2)} s\n-- self time by function\n${lines(fn, top)}\n` +
    `-- self time by file\n${lines(file, top)}\n-- inclusive time in our files\n${lines(inclusive, top)}`
  );
}
