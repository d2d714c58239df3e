/**
 * `npm run demo -- ingress`: traffic from outside the mesh enters through
 * `hyphae gateway` (issue 16). A Gateway and two Routes applied with `hyphae
 * apply` send `web.demo.local` to web and `api.demo.local` to api, 90/10
 * between its versions; a policy lets only the gateway's identity call web, so
 * STRICT mTLS stays on inside while plain HTTP clients (this process, curl)
 * reach it from outside. Counted per service and version, then an unknown host
 * (404) and a direct call from a mesh process that is not the gateway (403).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { request } from 'undici';
import { cliPath, startNode } from '../lib/child.js';
import { runDemo, type DemoOptions } from '../lib/demo-session.js';
import { percent, tally, waitUntil } from '../lib/demo-traffic.js';

const exec = promisify(execFile);
const WEB_CALLS = 200;
const API_CALLS = 1000;

export function run(options: DemoOptions): Promise<number> {
  return runDemo('hyphae demo ingress: an ingress gateway in front of the mesh, routes by hostname, mTLS inside', options, async ({ mesh, log, client, apply }) => {
    const started = await Promise.all([mesh.startExampleService('web'), mesh.startExampleService('api', { VERSION: 'v1' }), mesh.startExampleService('api', { VERSION: 'v2' })]);
    for (const s of started) log(`  ${s.service.padEnd(15)} ${s.id}`);
    await apply('examples/demos/ingress/edge.yaml', 'Gateway edge (HTTP 8080), web.demo.local -> web, api.demo.local -> api 90/10, only edge may call web');
    // The Gateway says port 8080; this demo binds it to a free port instead (--port 8080=0), as a second replica on one host would.
    const gateway = startNode(cliPath, ['gateway', '--name', 'edge', '--port', '8080=0', '--admin', 'off'], { ...mesh.env, HYPHAE_TOKEN: await mesh.tokenFor('edge') });
    mesh.children.push(gateway);
    const ready = await gateway.waitFor(/^hyphae gateway: ready .*listeners=8080=(\S+?)(?:,| ).*identity=(\S+)/);
    const front = `http://${ready[1]}`;
    log(`  gateway         edge on ${ready[1]} (Gateway port 8080), identity ${ready[2]}`);
    log('');

    const answer = async (host: string, signal?: AbortSignal) => {
      const res = await request(`${front}/items`, { headers: { host }, ...(signal ? { signal } : {}) });
      const body = (await res.body.json()) as { service?: string; version?: string; error?: { code: string } };
      return { status: res.statusCode, body };
    };
    await waitUntil('the routes reached the gateway', async () => (await answer('web.demo.local')).status === 200);

    const web = await tally(WEB_CALLS, 8, async (signal) => {
      const a = await answer('web.demo.local', signal);
      return a.status === 200 ? a.body.service : undefined;
    });
    log(`  Host: web.demo.local  -> web ${web.of('web')} of ${web.total} (${web.failed} failed)`);
    const api = await tally(API_CALLS, 8, async (signal) => {
      const a = await answer('api.demo.local', signal);
      return a.status === 200 && a.body.service === 'api' ? a.body.version : undefined;
    });
    log(`  Host: api.demo.local  -> v1 ${api.of('v1')}, v2 ${api.of('v2')} of ${api.total} (${api.failed} failed): v2 got ${percent(api.of('v2'), api.total)} of ${api.total} requests`);
    const unknown = await answer('shop.demo.local');
    log(`  Host: shop.demo.local -> ${unknown.status} ${unknown.body.error?.code ?? ''} (no route for that host)`);

    // What a person would type, with the port this run got.
    const curlArgs = ['-s', '-H', 'Host: web.demo.local', `${front}/items`];
    let curled: string | undefined;
    try {
      curled = (await exec('curl', curlArgs, { timeout: 10_000 })).stdout.trim();
      log(`  curl ${curlArgs.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`);
      log(`    ${curled}`);
    } catch {
      log('  (curl is not installed here: the requests above are what it would send)');
    }

    // Inside the mesh, web still takes only the gateway's identity: this process is a mesh client too ("demo").
    const demo = await client();
    const direct = await demo.request('http://web/items');
    const directBody = (await direct.body.json()) as { error?: { code: string } };
    log(`  mesh client "demo" -> web directly: ${direct.statusCode} ${directBody.error?.code ?? ''} (the policy allows only edge's identity)`);

    const share = api.of('v2') / api.total;
    const ok =
      web.of('web') === web.total &&
      api.failed === 0 &&
      share > 0.05 &&
      share < 0.16 &&
      unknown.status === 404 &&
      direct.statusCode === 403 &&
      (curled === undefined || curled.includes('"service":"web"'));
    return {
      ok,
      summary: ok
        ? 'outside traffic reached web and api through the gateway by hostname, api split about 90/10; unknown hosts got 404, and web refused a mesh caller that is not the gateway'
        : 'the gateway did not route as the Gateway and Routes say',
      keepCalling: [{ url: 'http://api/items' }],
    };
  });
}
