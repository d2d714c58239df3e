/**
 * The running demo (`npm run demo -- --keep`) as a test fixture: the same
 * processes a user gets — a secure control plane, three api instances, web
 * (with an OpenTelemetry SDK exporting Prometheus metrics) and the demo
 * process calling web steadily — every one reporting its stats. What the demo
 * prints is all a test needs: where the control plane, the dashboard and the
 * metrics are, a token to read with, and each instance's pid.
 */
import path from 'node:path';
import { buildDir, startNode, type Child } from './process.js';

export interface RunningDemo {
  child: Child;
  controlPlane: string;
  caFile: string;
  /** The viewer token the demo prints (read-only: the dashboard and the CLI views). */
  token: string;
  /** `<control plane>/ui#token=<token>` */
  dashboard: string;
  /** web's Prometheus endpoint. */
  metrics: string;
  instances: { service: string; id: string | undefined; pid: number }[];
  /** `hyphae` CLI flags to reach the control plane with the viewing token. */
  cliFlags: string[];
  stop(): Promise<void>;
}

export async function startDemo(rps = 10): Promise<RunningDemo> {
  const child = startNode(path.join(buildDir, 'examples/demo.js'), ['--keep', '--rps', String(rps)]);
  try {
    // A ceiling only: the demo starts six processes and a rolling restart, minutes on a busy 2-core machine.
    await child.waitFor(/^Ctrl-C stops it all\./, 300_000);
  } catch (err) {
    // SIGTERM first: the demo stops its own children then (a SIGKILL would leave them running, orphaned).
    const stopped = child.kill('SIGTERM');
    const timer = setTimeout(() => void child.kill('SIGKILL'), 30_000);
    await stopped;
    clearTimeout(timer);
    throw err;
  }
  const line = (re: RegExp) => {
    for (const l of child.lines) {
      const m = l.match(re);
      if (m) return m;
    }
    throw new Error(`the demo printed no line matching ${re}:\n${child.lines.join('\n')}`);
  };
  const dashboard = line(/^ {2}dashboard {7}(\S+)/)[1]!;
  const [controlPlane, token] = dashboard.split('/ui#token=') as [string, string];
  const caFile = line(/the browser must trust (\S+);/)[1]!;
  const metrics = line(/^ {2}metrics {9}(\S+)/)[1]!;
  const instances = [...line(/^ {2}instances {7}(.+)$/)[1]!.matchAll(/(\w+) (?:(\S+:\d+) )?pid=(\d+)/g)].map((m) => ({ service: m[1]!, id: m[2], pid: Number(m[3]) }));
  return {
    child,
    controlPlane,
    caFile,
    token,
    dashboard,
    metrics,
    instances,
    // The viewer token, in the file the demo prints for the live views (a token never goes on a command line).
    cliFlags: ['--control-plane', controlPlane, '--ca-file', caFile, '--token-file', line(/^ {2}live views {6}.* --token-file (\S+)/)[1]!],
    async stop() {
      await child.kill('SIGTERM');
    },
  };
}
