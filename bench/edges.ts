/**
 * Issue 16's performance section in one run: the proxy pair against an nginx sidecar pair with mTLS
 * (bench/proxy-pair.ts), then the gateway against nginx as an edge proxy, HTTP and HTTPS in front
 * (bench/gateway-nginx.ts). Prints both reports and every target, and writes bench/results/edges.json.
 *
 *   npm run bench:edges -- [--duration 5000] [--warmup-requests 30000] [--warmup 60000] [--rounds 5] [--concurrency 32] [--pin | --no-pin]
 *
 * Without --pin / --no-pin each half keeps its own default: the pair unpinned (as bench:sidecar's pair),
 * the gateway half pinned (one core each for nginx and the gateway, bench/lib/cpu-pin.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from '../examples/lib/child.js';
import { GATEWAY_DEFAULTS, gatewayVsNginx } from './gateway-nginx.js';
import { edgeOptionsFromArgs, machine, printEdge } from './lib/edge-report.js';
import { PROXY_PAIR_DEFAULTS, proxyPair } from './proxy-pair.js';

const args = process.argv.slice(2);
const pairOpts = edgeOptionsFromArgs(args, PROXY_PAIR_DEFAULTS);
const gatewayOpts = edgeOptionsFromArgs(args, GATEWAY_DEFAULTS);
const started = machine();
console.log(`hyphae bench: ${started}`);
const pair = await proxyPair(pairOpts);
printEdge(pair);
const gateway = await gatewayVsNginx(gatewayOpts);
printEdge(gateway);
console.log('');
for (const t of [...pair.targets, ...gateway.targets]) console.log(`${t.verdict.padEnd(8)} ${t.name} ${t.op} ${t.limit}x: ${t.value === undefined ? '-' : `${t.value.toFixed(3)}x`}`);
await mkdir(path.join(repoRoot, 'bench/results'), { recursive: true });
await writeFile(
  path.join(repoRoot, 'bench/results/edges.json'),
  `${JSON.stringify({ machine: started, date: new Date().toISOString(), options: { pair: pairOpts, gateway: gatewayOpts }, pair, gateway }, null, 2)}\n`,
);
