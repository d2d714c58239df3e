/**
 * Clusters on separate networks for multi-cluster tests (issue 17): one network namespace per cluster,
 * made and removed by the test itself. Topology, per test file:
 *
 *   root namespace (the test) --veth-- <dc1>      <dc1> --veth-- <dc2>      root --veth-- <dc2>
 *
 * The test reaches each cluster on its own link (to start processes' control planes, apply config); the
 * clusters reach each other only on the link between them. No namespace has a default route, so <dc1>
 * cannot reach <dc2>'s root link, and a process of <dc2> bound to 127.0.0.1 is reachable from nowhere but
 * <dc2>. Processes run in a namespace through `ip netns exec` (which execs: the child keeps its pid).
 *
 * Namespace and link names carry the test process's pid, so files running at once never share one;
 * namespaces that a dead test process left behind are removed on the next start.
 */
import { execFile } from 'node:child_process';
import { after } from 'node:test';
import { promisify } from 'node:util';
import { startCommand } from './process.js';

const run = promisify(execFile);
const PREFIX = 'hyn';

export interface ClusterNamespace {
  /** The cluster's name (dc1). */
  readonly cluster: string;
  /** The network namespace's name. */
  readonly netns: string;
  /** This namespace's address on its link to the root namespace (where the test reaches it). */
  readonly address: string;
  /** The root namespace's address on that link. */
  readonly hostAddress: string;
  /** This namespace's address on the link between the clusters (what the other cluster reaches). */
  readonly peerLinkAddress: string;
  /**
   * A second address on that link, for the cluster's control plane alone: a route for it in the other
   * namespace (a blackhole) cuts the link between the control planes and leaves the data path up.
   */
  readonly controlPlaneAddress: string;
  /** A launcher for examples/lib/child.ts startNode: runs the command in this namespace. */
  readonly launcher: readonly string[];
}

export interface ClusterNetwork {
  readonly clusters: readonly [ClusterNamespace, ClusterNamespace];
  close(): Promise<void>;
}

async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args)).stdout;
}

/** Undefined when this machine lets a test make namespaces and veth pairs; else why not, for `skip`. */
export async function clusterNetworkUnsupported(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'making network namespaces needs root';
  const probe = `${PREFIX}${process.pid}p`;
  try {
    await ip('netns', 'add', probe);
    await ip('link', 'add', `${probe}x`, 'type', 'veth', 'peer', 'name', `${probe}y`);
    await ip('link', 'del', `${probe}x`);
    return undefined;
  } catch (err) {
    return `the kernel or this container refuses network namespaces or veth pairs: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    await ip('netns', 'del', probe).catch(() => undefined);
  }
}

/** Namespaces named for a test process that is gone. */
async function removeStale(): Promise<void> {
  const list = await ip('netns', 'list').catch(() => '');
  for (const line of list.split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)[a-z]\\S*)`).exec(line.trim());
    if (m === null || Number(m[2]) === process.pid) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      await ip('netns', 'del', m[1]!).catch(() => undefined);
    }
  }
}

/** A /30 in 10.252.0.0/16 for each root link of this process's networks, so that files running at once never share one. */
function rootSubnet(n: number): [string, string] {
  const block = ((process.pid * 64 + networks * 2 + n) % 16_384) * 4;
  const base = `10.252.${Math.floor(block / 256)}.`;
  return [`${base}${(block % 256) + 1}`, `${base}${(block % 256) + 2}`];
}

let networks = 0;
const open = new Set<() => Promise<void>>();
// node:test's after() called from a before() hook runs when that hook ends: the file-level hook is set here.
after(async () => {
  for (const close of [...open]) await close();
});

/** Makes the two namespaces and their three links; removed by close(), and when the test file ends at the latest. */
export async function createClusterNetwork(names: readonly [string, string]): Promise<ClusterNetwork> {
  await removeStale();
  // One letter per network of this process: link names stay within Linux's 15 characters.
  const tag = `${PREFIX}${process.pid}${String.fromCharCode(97 + (networks++ % 26))}`;
  const made: string[] = [];
  const close = async () => {
    open.delete(close);
    // Deleting a namespace deletes the veth ends in it, and so their peers.
    for (const ns of made.splice(0)) await ip('netns', 'del', ns).catch(() => undefined);
  };
  open.add(close);
  try {
    const clusters = [] as unknown as [ClusterNamespace, ClusterNamespace];
    // A /29: the two peer-link addresses and the two control-plane ones are all on the link, no route needed.
    const peerLink = ['10.251.0.1', '10.251.0.2'];
    const controlPlane = ['10.251.0.5', '10.251.0.6'];
    for (let i = 0; i < 2; i++) {
      const netns = `${tag}${'ab'[i]}`;
      await ip('netns', 'add', netns);
      made.push(netns);
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      // The root link: the root end stays here, the other end moves into the namespace.
      const [hostAddress, address] = rootSubnet(i);
      const rootEnd = `${tag}r${i}`;
      const nsEnd = `${tag}n${i}`;
      await ip('link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', nsEnd);
      await ip('link', 'set', nsEnd, 'netns', netns);
      await ip('addr', 'add', `${hostAddress}/30`, 'dev', rootEnd);
      await ip('link', 'set', rootEnd, 'up');
      await ip('-n', netns, 'addr', 'add', `${address}/30`, 'dev', nsEnd);
      await ip('-n', netns, 'link', 'set', nsEnd, 'up');
      clusters.push({ cluster: names[i]!, netns, address, hostAddress, peerLinkAddress: peerLink[i]!, controlPlaneAddress: controlPlane[i]!, launcher: ['ip', 'netns', 'exec', netns] });
    }
    // The link between the clusters.
    const [a, b] = clusters;
    await ip('link', 'add', `${tag}xa`, 'netns', a.netns, 'type', 'veth', 'peer', 'name', `${tag}xb`, 'netns', b.netns);
    for (const [c, end] of [
      [a, `${tag}xa`],
      [b, `${tag}xb`],
    ] as const) {
      await ip('-n', c.netns, 'addr', 'add', `${c.peerLinkAddress}/29`, 'dev', end);
      await ip('-n', c.netns, 'addr', 'add', `${c.controlPlaneAddress}/29`, 'dev', end);
      await ip('-n', c.netns, 'link', 'set', end, 'up');
    }
    return { clusters, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Connects to each "host port" given and prints one line per target: "<target> => ok <greeting>" or the error code. */
const PROBE = `const net = require('node:net');
(async () => { for (const t of process.argv.slice(1)) { const [h, p] = t.split(' '); const r = await new Promise((res) => {
  const c = net.connect({ host: h, port: Number(p), timeout: 5000 }); let got = '';
  c.on('connect', () => { if (process.env.PROBE_CONNECT_ONLY) { c.destroy(); res('connected'); } });
  c.on('data', (d) => (got += d)); c.on('end', () => res('ok ' + got)); c.on('timeout', () => { c.destroy(); res('ETIMEDOUT'); }); c.on('error', (e) => res(e.code)); });
  console.log(t + ' => ' + r); } console.log('probe done'); })();`;

/**
 * From inside a namespace (its `launcher`), what a TCP connection to each "host port" meets: "ok <what the
 * server sent>", "connected" with `connectOnly` (for servers that wait for the client), or the error code.
 */
export async function probeFrom(launcher: readonly string[], targets: string[], connectOnly = false): Promise<Map<string, string>> {
  const child = startCommand(launcher[0]!, [...launcher.slice(1), process.execPath, '-e', PROBE, ...targets], connectOnly ? { PROBE_CONNECT_ONLY: '1' } : {});
  try {
    await child.waitFor(/probe done/, 60_000);
    return new Map(child.lines.filter((l) => l.includes(' => ')).map((l) => l.split(' => ') as [string, string]));
  } finally {
    await child.kill('SIGKILL');
  }
}

/** Drops, in `from`'s namespace, every packet to `address` (`on` false removes the route again). */
export async function blackhole(from: ClusterNamespace, address: string, on: boolean): Promise<void> {
  await ip('-n', from.netns, 'route', on ? 'add' : 'del', 'blackhole', `${address}/32`);
}
