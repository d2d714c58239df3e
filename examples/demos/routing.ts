/**
 * `npm run demo -- routing`: a Route applied with `hyphae apply` sends api's
 * callers' requests by path (/search to the `search` service) and by header
 * (`x-beta: 1` to `api-beta`); the rest stays on `api`. The same three kinds of
 * call are counted before and after, per service that answered.
 */
import type { Mesh } from 'hyphae';
import { runDemo, type DemoOptions } from '../lib/demo-session.js';
import { tally, waitUntil } from '../lib/demo-traffic.js';

const CALLS = 100;
const services = ['api', 'search', 'api-beta'];
const kinds: { label: string; path: string; headers: Record<string, string> }[] = [
  { label: 'GET /items', path: '/items', headers: {} },
  { label: 'GET /search?q=mesh', path: '/search?q=mesh', headers: {} },
  { label: 'GET /items  x-beta: 1', path: '/items', headers: { 'x-beta': '1' } },
];

/** Which service answered (examples/telemetry/service.js says who it is). */
async function answeredBy(client: Mesh, path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<string | undefined> {
  const res = await client.request(`http://api${path}`, { headers, ...(signal ? { signal } : {}) });
  const body = (await res.body.json()) as { service?: string };
  return res.statusCode === 200 ? body.service : undefined;
}

export function run(options: DemoOptions): Promise<number> {
  return runDemo('hyphae demo routing: a Route sends calls to api by path and by header, applied with hyphae apply', options, async ({ mesh, log, client, apply }) => {
    const started = await Promise.all(services.map((s) => mesh.startExampleService(s)));
    for (const s of started) log(`  ${s.service.padEnd(15)} ${s.id}`);
    const demo = await client();
    log('');

    const measure = async (phase: string) => {
      const results = [];
      for (const k of kinds) {
        const t = await tally(CALLS, 4, (signal) => answeredBy(demo, k.path, k.headers, signal));
        results.push(t);
        log(`  ${phase.padEnd(7)} ${k.label.padEnd(22)} -> ${services.map((s) => `${s} ${t.of(s)}`).join(', ')} (of ${t.total}, ${t.failed} failed)`);
      }
      return results;
    };

    log(`before: no Route; ${CALLS} calls of each kind to http://api, counted by the service that answered`);
    const before = await measure('before');
    log('');
    await apply('examples/demos/routing/route.yaml', '/search -> search, x-beta: 1 -> api-beta, the rest -> api');
    // The route reaches this process within milliseconds of the apply: a call to /search answered by search says it has.
    await waitUntil('the route reached this process', async () => (await answeredBy(demo, '/search?q=probe', {})) === 'search');
    const after = await measure('after');

    const all = (t: { of(s: string): number; total: number }, s: string) => t.of(s) === t.total;
    const ok = before.every((t) => all(t, 'api')) && all(after[0]!, 'api') && all(after[1]!, 'search') && all(after[2]!, 'api-beta');
    return {
      ok,
      summary: ok ? 'every call went where the route says: /items to api, /search to search, x-beta: 1 to api-beta' : 'some calls did not go where the route says',
      keepCalling: kinds.map((k) => ({ url: `http://api${k.path}`, headers: k.headers })),
    };
  });
}
