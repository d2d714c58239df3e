/**
 * Shared by the multi-cluster scenarios (issue 17): two clusters in their own network namespaces
 * (helpers/netns.ts), each with its control plane (`--cluster`, an intermediate CA under one root made
 * here), its workloads and its mesh gateway as child processes in the namespace. The test reaches each
 * control plane and each calling workload on the cluster's root link; the clusters reach each other only
 * on the link between them.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import type { Instance } from '../../src/config/instance.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, startControlPlane, watch, type RunningControlPlane } from '../helpers/control-plane.js';
import { createClusterNetwork, type ClusterNamespace, type ClusterNetwork } from '../helpers/netns.js';
import { clusterCas } from '../../examples/lib/cluster-pki.js';
import { buildDir, cliPath, startNode, type Child } from '../helpers/process.js';
import { countBy } from './traffic-helpers.js';

export interface Cluster {
  readonly ns: ClusterNamespace;
  readonly cp: RunningControlPlane;
  /** Every child started in this cluster, for the cleanup. */
  readonly children: Child[];
}

export interface Clusters {
  readonly net: ClusterNetwork;
  readonly dc1: Cluster;
  readonly dc2: Cluster;
  close(): Promise<void>;
}

const fixture = (name: string) => path.join(buildDir, 'test/scenarios/fixtures', name);

/** Both clusters' control planes, each on every address of its namespace, its HTTPS names those the test and the peer dial. */
export async function startClusters(ttlSeconds = 3, heartbeatMs?: number): Promise<Clusters> {
  const net = await createClusterNetwork(['dc1', 'dc2']);
  const work = await makeTempDir('hyphae-multi-cluster-');
  const { flags } = await clusterCas(
    work,
    net.clusters.map((c) => c.cluster),
  );
  const start = async (ns: ClusterNamespace): Promise<Cluster> => {
    const cp = await startControlPlane({
      ttlSeconds,
      ...(heartbeatMs !== undefined && { heartbeatMs }),
      launcher: ns.launcher,
      reachAt: ns.address,
      args: ['--cluster', ns.cluster, '--host', '0.0.0.0', '--tls-name', ns.address, '--tls-name', ns.controlPlaneAddress, ...flags[ns.cluster]!],
    });
    return { ns, cp, children: [] };
  };
  const [a, b] = net.clusters;
  const [dc1, dc2] = await Promise.all([start(a), start(b)]);
  return {
    net,
    dc1,
    dc2,
    async close() {
      await Promise.all([...dc1.children, ...dc2.children].map((c) => c.kill('SIGKILL')));
      await Promise.all([dc1.cp.stop('SIGKILL'), dc2.cp.stop('SIGKILL')]);
      await net.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}

export interface RunningApi {
  child: Child;
  /** address:port, as registered. */
  id: string;
}

/** An api instance of the cluster, bound to `host` (loopback: reachable from its own namespace only). */
export async function startApiIn(c: Cluster, host = '127.0.0.1'): Promise<RunningApi> {
  const child = startNode(fixture('multi-cluster-api.js'), [], { ...(await c.cp.env('api')), CLUSTER: c.ns.cluster, HOST: host }, c.ns.launcher);
  c.children.push(child);
  const m = await child.waitFor(/ready service=api cluster=\S+ instance=(\S+)/, 60_000);
  return { child, id: m[1]! };
}

/** A calling workload of the cluster (service `service`); the test asks it for calls on the cluster's root link. */
export async function startCallerIn(c: Cluster, service: string): Promise<string> {
  const child = startNode(fixture('multi-cluster-caller.js'), [], await c.cp.env(service), c.ns.launcher);
  c.children.push(child);
  const m = await child.waitFor(/ready caller=\S+ port=(\d+)/, 60_000);
  return `http://${c.ns.address}:${m[1]}/call`;
}

/** The cluster's mesh gateway (`hyphae gateway --mode mesh`) on its peer-link address; resolves with its port. */
export async function startMeshGatewayIn(c: Cluster): Promise<number> {
  const child = startNode(
    cliPath,
    ['gateway', '--mode', 'mesh', '--cluster', c.ns.cluster, '--listen', `${c.ns.peerLinkAddress}:0`, '--grace-period', '1s'],
    await c.cp.env('mesh-gateway'),
    c.ns.launcher,
  );
  c.children.push(child);
  return Number((await child.waitFor(/hyphae gateway: ready mode=mesh .* listen=\S+:(\d+) registered=/, 60_000))[1]);
}

/**
 * dc1 peers with dc2 by a token dc2 makes for it (with `gateway`: dc2's mesh gateways stand for its
 * instances); resolves when dc1's control plane serves `count` instances of `service` tagged dc2.
 */
export async function peer(cs: Clusters, service: string, count: number, gateway?: string): Promise<Instance[]> {
  // dc1 reaches dc2's control plane on its own address, so that a test can cut that link alone.
  const address = `https://${cs.dc2.ns.controlPlaneAddress}:${cs.dc2.cp.port}`;
  const made = await runCli(['cluster', 'peering-token', '--peer', 'dc1', '--address', address, ...(gateway ? ['--gateway', gateway] : []), ...cs.dc2.cp.cliFlags]);
  assert.equal(made.code, 0, made.stderr);
  const used = await runCli(['cluster', 'peer', '--peering-token', made.stdout.trim(), ...cs.dc1.cp.cliFlags]);
  assert.equal(used.code, 0, used.stderr);
  return importedBy(cs.dc1, service, (i) => i.length === count);
}

/** Resolves with dc1's instances of `service` imported from dc2 once `ready` holds of them. */
export async function importedBy(c: Cluster, service: string, ready: (imported: Instance[]) => boolean, timeoutMs = 30_000): Promise<Instance[]> {
  const w = await watch(c.cp.url, [service]);
  try {
    const snap = await w.waitForService(service, (s) => ready(s.instances.filter((i) => i.cluster !== undefined)), timeoutMs);
    return snap.instances.filter((i) => i.cluster !== undefined);
  } finally {
    await w.close();
  }
}

export interface CallAnswer {
  /** 200, the status api answered, or 0 when the call failed. */
  status: number;
  instance?: string;
  cluster?: string;
  peer?: string | null;
  error?: string;
  sentAt: number;
  doneAt: number;
}

/** One call of the caller workload to api; a failure of the call (or of the hop to the caller) is recorded, not thrown. */
export async function callVia(callerUrl: string): Promise<CallAnswer> {
  const sentAt = performance.now();
  try {
    const res = await request(callerUrl, { headersTimeout: 30_000, bodyTimeout: 30_000 });
    const body = (await res.body.json()) as Omit<CallAnswer, 'sentAt' | 'doneAt'>;
    return { ...body, sentAt, doneAt: performance.now() };
  } catch (err) {
    return { status: 0, error: `caller unreachable: ${(err as Error).message}`, sentAt, doneAt: performance.now() };
  }
}

/** `n` calls one after another. */
export async function calls(callerUrl: string, n: number): Promise<CallAnswer[]> {
  const out: CallAnswer[] = [];
  for (let i = 0; i < n; i++) out.push(await callVia(callerUrl));
  return out;
}

/** Answers counted by the cluster that served them, failures by their error. */
export const byCluster = (answers: CallAnswer[]) => countBy(answers, (a) => (a.status === 200 ? (a.cluster ?? 'unknown') : `failed ${a.status}: ${a.error}`));

/**
 * Calls in a loop from `workers` callers at once, until stop() or a ceiling of calls or time: the scenarios
 * stop it on what they wait for, long before.
 */
export function startStream(callerUrl: string, workers = 2, maxCalls = 20_000, maxMs = 120_000) {
  const answers: CallAnswer[] = [];
  let stopped = false;
  const t0 = performance.now();
  const worker = async () => {
    while (!stopped && answers.length < maxCalls && performance.now() - t0 < maxMs) answers.push(await callVia(callerUrl));
  };
  const done = Promise.all(Array.from({ length: workers }, worker));
  return {
    answers,
    /** Resolves with the answers when the stream ends at its own ceiling. */
    ended: done.then(() => answers),
    async stop() {
      stopped = true;
      await done;
      return answers;
    },
  };
}

/** The Service of api in dc1: fail over to dc2; every dead local instance may be ejected. */
export const apiWithFailover = {
  apiVersion: 'hyphae.dev/v1',
  kind: 'Service',
  metadata: { name: 'api', namespace: 'default' },
  spec: { failover: [{ cluster: 'dc2' }], loadBalancer: 'round_robin', outlierDetection: { maxEjectionPercent: 100 } },
};

export const exportOf = (name: string) => ({ apiVersion: 'hyphae.dev/v1', kind: 'ServiceExport', metadata: { name, namespace: 'default' } });
