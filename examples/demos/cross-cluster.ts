/**
 * `npm run demo -- failover` and `npm run demo -- gateways` (issue 17, the seed's Consul demos): two
 * clusters on loopback, each with its own control plane (`--cluster dc1`, `--cluster dc2`) and an
 * intermediate CA under one root the demo makes. dc2 exports `api`; dc1 peers with dc2's token, and its
 * Service api says `failover: [{cluster: dc2}]`. This process calls dc1's `web`, which calls `api`, in a
 * steady stream: every call is answered by dc1's api; the demo stops dc1's api instances and the calls go
 * to dc2's; it starts them again and the calls come home. A summary counts the calls of each phase by the
 * cluster that answered, and the failures.
 *
 * `failover` is the flat network model (dc1 calls dc2's instances directly); `gateways` is the gateway
 * model: dc2 runs a mesh gateway (`hyphae gateway --mode mesh`), dc1 is given only its address, and the
 * gateway passes each connection by its SNI without decrypting it, so dc2's api sees dc1's web as its caller.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createMesh, type Mesh } from 'hyphae';
import { cliPath, startNode } from '../lib/child.js';
import { clusterCas } from '../lib/cluster-pki.js';
import { reportFailure, startDemoMesh, type DemoMesh } from '../lib/demo-mesh.js';
import type { DemoOptions } from '../lib/demo-session.js';
import { waitUntil } from '../lib/demo-traffic.js';

export type NetworkModel = 'flat' | 'gateway';

/** Calls a steady phase counts; the stream's answers arrive in milliseconds, so a phase lasts about a second. */
const PHASE_CALLS = 150;
/** Consecutive answers from one cluster that say the traffic has moved there (the transition phases end on it). */
const STREAK = 30;
/** A stall ceiling per wait, never an expectation. */
const STALL_MS = 90_000;
/** The most calls one demo sends, whatever happens: the stream is bounded in count as well as in time. */
const MAX_CALLS = 50_000;

interface Phase {
  name: string;
  dc1: number;
  dc2: number;
  failed: number;
}

interface Answer {
  api?: { instance?: string; peer?: string | null };
}

export async function run(options: DemoOptions, model: NetworkModel): Promise<number> {
  const log = (line = '') => console.log(line);
  log(
    model === 'flat'
      ? 'hyphae demo failover: two peered clusters; dc1 loses its api and its calls go to dc2, then come home'
      : "hyphae demo gateways: the same through dc2's mesh gateway, which forwards mTLS by SNI without decrypting",
  );
  if (options.keep) log('  (--keep is not offered by the multi-cluster demos: they stop by themselves)');
  log('');
  const work = await mkdtemp(path.join(os.tmpdir(), 'hyphae-demo-clusters-'));
  const clusters: DemoMesh[] = [];
  let demo: Mesh | undefined;
  const stopAll = async () => {
    await demo?.close();
    // dc1 first: its workloads stop before the control plane they import dc2's instances from.
    for (const c of clusters) await c.stop();
    await rm(work, { recursive: true, force: true });
  };
  const interrupted = () => void stopAll().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const ok = await scenario();
    log('');
    log(
      ok
        ? `demo ok: calls stayed in dc1, moved to dc2 when dc1 had no api, came home when it had one again, and none failed${model === 'gateway' ? "; dc2's api saw dc1's web through the gateway" : ''}`
        : `demo FAILED: the calls did not follow the clusters as the failover list says`,
    );
    await stopAll();
    return ok ? 0 : 1;
  } catch (err) {
    await reportFailure(
      err,
      clusters.flatMap((c) => c.children),
    );
    await stopAll();
    return 1;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }

  async function scenario(): Promise<boolean> {
    const { flags } = await clusterCas(work, ['dc1', 'dc2'] as const);
    log(`  ${'trust'.padEnd(18)} one root, an intermediate CA per cluster (openssl, in a temporary directory)`);
    const [dc1, dc2] = await Promise.all((['dc1', 'dc2'] as const).map((c) => startDemoMesh({ args: ['--cluster', c, ...flags[c]] })));
    clusters.push(dc1!, dc2!);
    const clusterOf = new Map<string, 'dc1' | 'dc2'>();
    for (const [c, mesh] of [
      ['dc1', dc1!],
      ['dc2', dc2!],
    ] as const)
      log(`  ${`${c} control plane`.padEnd(18)} ${mesh.controlPlane} (hyphae control-plane --cluster ${c} --ca-cert ${c}-chain.pem --ca-key ${c}.key)`);

    const startApi = async (cluster: 'dc1' | 'dc2') => {
      const mesh = cluster === 'dc1' ? dc1! : dc2!;
      const { child, ready } = await mesh.startService('examples/api/server.js', { HYPHAE_TOKEN: await mesh.tokenFor('api'), VERSION: cluster });
      const id = /instance=(\S+)/.exec(ready[0])?.[1];
      if (!id || id === '?') throw new Error(`api in ${cluster} did not register: ${ready[0]}`);
      clusterOf.set(id, cluster);
      log(`  ${`${cluster} api`.padEnd(18)} ${id} pid=${child.proc.pid}`);
      return child;
    };
    await Promise.all([startApi('dc2'), startApi('dc2')]);
    log(`dc2: hyphae apply -f examples/demos/cross-cluster/1-dc2-export-api.yaml   (export api to peers)`);
    log(`  ${(await dc2!.apply('examples/demos/cross-cluster/1-dc2-export-api.yaml')).trim()}`);

    let gatewayAddress: string | undefined;
    if (model === 'gateway') {
      const gw = startNode(cliPath, ['gateway', '--mode', 'mesh', '--cluster', 'dc2', '--listen', '127.0.0.1:0'], { ...dc2!.env, HYPHAE_TOKEN: await dc2!.tokenFor('mesh-gateway') });
      dc2!.children.push(gw);
      const ready = await gw.waitFor(/ready mode=mesh cluster=dc2 listen=(\S+) registered=\S+ identity=(\S+)/);
      gatewayAddress = ready[1]!;
      log(`  ${'dc2 mesh gateway'.padEnd(18)} ${gatewayAddress} as ${ready[2]} (hyphae gateway --mode mesh --cluster dc2)`);
    }

    const peeringToken = (await dc2!.cli(['cluster', 'peering-token', '--peer', 'dc1', ...(model === 'gateway' ? ['--gateway', 'mesh-gateway'] : [])])).trim();
    const tokenFile = path.join(work, 'dc1.peering-token');
    await writeFile(tokenFile, `${peeringToken}\n`, { mode: 0o600 });
    await dc1!.cli(['cluster', 'peer', '--token-from', tokenFile]);
    log(`peering: dc2 hyphae cluster peering-token --peer dc1${model === 'gateway' ? ' --gateway mesh-gateway' : ''}; dc1 hyphae cluster peer --token-from <file>`);
    log(`dc1: hyphae apply -f examples/demos/cross-cluster/2-dc1-api-failover.yaml   (failover: [{cluster: dc2}])`);
    log(`  ${(await dc1!.apply('examples/demos/cross-cluster/2-dc1-api-failover.yaml')).trim()}`);

    // Each start waits for a registration: side by side, a busy machine adds its delay once, not three times.
    const [firstApi, secondApi, web] = await Promise.all([
      startApi('dc1'),
      startApi('dc1'),
      dc1!.tokenFor('web').then((token) => dc1!.startService('examples/web/server.js', { HYPHAE_SERVICE: 'web', HYPHAE_TOKEN: token })),
    ]);
    let dc1Apis = [firstApi, secondApi];
    log(`  ${'dc1 web'.padEnd(18)} ${/instance=(\S+)/.exec(web.ready[0])?.[1]} pid=${web.child.proc.pid}`);

    // This process is a workload of dc1 too: what it knows of api is what web knows (the same pushes).
    demo = await createMesh({ controlPlane: dc1!.controlPlane, caFile: dc1!.caFile, service: 'demo', token: await dc1!.tokenFor('demo') });
    await (await demo.request('http://api/')).body.dump();
    const fromDc2 = () => demo!.endpoints('api').filter((e) => e.cluster === 'dc2');
    await waitUntil('dc1 has imported api from dc2', () => fromDc2().length > 0, { timeoutMs: STALL_MS });
    log('');
    log(
      `dc1's view of api: ${demo
        .endpoints('api')
        .map((e) => `${e.address}:${e.port} (${e.cluster})`)
        .join(', ')}`,
    );
    const viaGateway = gatewayAddress === undefined || fromDc2().every((e) => `${e.address}:${e.port}` === gatewayAddress);
    if (gatewayAddress !== undefined) log(`  dc2's api is known in dc1 only by its gateway's address ${gatewayAddress}: ${viaGateway ? 'yes' : 'NO'}`);
    log('');

    // The stream: two callers in a loop, each answer counted in the phase it arrived in, by the cluster that answered.
    const phases: Phase[] = [];
    let phase: Phase = { name: '', dc1: 0, dc2: 0, failed: 0 };
    const peers = new Set<string>();
    // Why calls failed, by cause (web's 502 names the error its call to api ended with), for the summary.
    const causes = new Map<string, number>();
    const why = (cause: string) => causes.set(cause, (causes.get(cause) ?? 0) + 1);
    let sent = 0;
    let streak = { cluster: '', length: 0 };
    let running = true;
    let wake: () => void = () => {};
    const answered = () => new Promise<void>((resolve) => (wake = resolve));
    const caller = async () => {
      while (running && sent < MAX_CALLS) {
        sent++;
        let cluster: 'dc1' | 'dc2' | undefined;
        try {
          const res = await demo!.request('http://web/', { signal: AbortSignal.timeout(30_000) });
          const body = (await res.body.json()) as Answer & { error?: string };
          cluster = res.statusCode === 200 ? clusterOf.get(body.api?.instance ?? '') : undefined;
          if (cluster === 'dc2') peers.add(String(body.api?.peer));
          if (!cluster) why(`${res.statusCode} ${body.error ?? `answered by ${body.api?.instance ?? 'no api'}`}`);
        } catch (err) {
          why((err as { code?: string }).code ?? String(err));
        }
        if (cluster) phase[cluster]++;
        else phase.failed++;
        streak = cluster === streak.cluster ? { cluster, length: streak.length + 1 } : { cluster: cluster ?? 'failed', length: 1 };
        wake();
      }
    };
    const begin = (name: string) => {
      phase = { name, dc1: 0, dc2: 0, failed: 0 };
      phases.push(phase);
    };
    const until = async (what: string, done: () => boolean) => {
      const deadline = performance.now() + STALL_MS;
      while (!done()) {
        if (!running || sent >= MAX_CALLS || performance.now() > deadline) throw new Error(`the calls stalled waiting until ${what}`);
        await Promise.race([answered(), new Promise((r) => setTimeout(r, 1000))]);
      }
    };
    const calls = (n: number) => () => phase.dc1 + phase.dc2 + phase.failed >= n;
    const streakOf = (cluster: string) => () => streak.cluster === cluster && streak.length >= STREAK;

    begin('both clusters up');
    const stream = Promise.all([caller(), caller()]);
    try {
      await until('a steady phase is counted', calls(PHASE_CALLS));
      begin("dc1's api stopping");
      log(`stopping dc1's api instances (SIGTERM: they deregister, then drain) while the calls go on...`);
      await Promise.all(dc1Apis.map((c) => c.kill('SIGTERM')));
      await until('the calls reach dc2', streakOf('dc2'));
      begin("dc1's api down");
      await until('a steady phase is counted', calls(PHASE_CALLS));
      begin("dc1's api restarting");
      log(`starting dc1's api again...`);
      dc1Apis = await Promise.all([startApi('dc1'), startApi('dc1')]);
      await until('the calls come home', streakOf('dc1'));
      begin("dc1's api back");
      await until('a steady phase is counted', calls(PHASE_CALLS));
    } finally {
      running = false;
      await stream;
    }

    log('');
    log(`calls from this process -> dc1's web -> api, by the cluster whose api answered:`);
    log(`  ${'phase'.padEnd(24)} ${'dc1'.padStart(5)} ${'dc2'.padStart(5)} ${'failed'.padStart(7)}`);
    for (const p of phases) log(`  ${p.name.padEnd(24)} ${String(p.dc1).padStart(5)} ${String(p.dc2).padStart(5)} ${String(p.failed).padStart(7)}`);
    const total = phases.reduce((n, p) => n + p.dc1 + p.dc2 + p.failed, 0);
    const failures = phases.reduce((n, p) => n + p.failed, 0);
    log(`failures: ${failures} of ${total} calls`);
    for (const [cause, n] of causes) log(`  ${n} x ${cause}`);
    log(`dc2's api saw callers: ${[...peers].join(', ')}`);
    const [up, , down, , back] = phases as [Phase, Phase, Phase, Phase, Phase];
    const webCaller = peers.size > 0 && [...peers].every((p) => p.endsWith('/ns/default/sa/web'));
    log(`  ${webCaller ? "dc1's web's own identity (mTLS end to end" + (model === 'gateway' ? ', through the gateway)' : ')') : 'NOT only web'}`);
    return failures === 0 && up.dc2 === 0 && down.dc1 === 0 && back.dc2 === 0 && webCaller && viaGateway;
  }
}
