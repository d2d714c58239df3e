/**
 * A bench child process holding many watch streams (SSE) at once, as a few
 * hundred mesh clients would. Forked by bench/control-plane.ts, driven over
 * IPC:
 *
 *   parent -> { type: 'open', urls, ca?, token?, first, count, follow, target }
 *   child  -> { type: 'ready' }               every stream has its hello and the target's snapshot
 *   child  -> { type: 'seen', marker, at[] }  every stream has seen the target with instance port `marker`
 *   parent -> { type: 'close' }
 *
 * Streams are HTTPS when the URLs are (verifying the control plane with `ca`)
 * and send `token` (a join token): the watch API authenticates by token, so
 * no client certificate is needed.
 *
 * `at` are wall-clock times (performance.timeOrigin + now, comparable across
 * processes on one machine) at which each stream parsed the snapshot.
 */
import http from 'node:http';
import https from 'node:https';

interface OpenMessage {
  type: 'open';
  /** Control-plane URLs; stream g connects to urls[g % urls.length]. */
  urls: string[];
  /** The control planes' CA (https:// URLs): server authentication only, no client certificate. */
  ca?: string;
  /** A join token (any valid token may watch). */
  token?: string;
  /** Global index of this child's first stream (spreads streams over URLs and services). */
  first: number;
  count: number;
  /** Services each stream follows besides the target. */
  follow: number;
  /** Number of services in the registry (svc-0..svc-N-1). */
  services: number;
  /** The service whose changes are timed. */
  target: string;
}

const now = () => performance.timeOrigin + performance.now();
const MARKER_FROM = 30_000;

/** Per marker: when each stream first saw it. */
const seen = new Map<number, Float64Array>();
const seenCount = new Map<number, number>();
let streams = 0;
let readyLeft = 0;
const requests: http.ClientRequest[] = [];

function markerIn(json: string): number {
  // The highest instance port at or above MARKER_FROM: the newest marker instance.
  let best = -1;
  for (const m of json.matchAll(/"port":(\d+)/g)) {
    const p = Number(m[1]);
    if (p >= MARKER_FROM && p > best) best = p;
  }
  return best;
}

function record(stream: number, marker: number, at: number): void {
  let times = seen.get(marker);
  if (!times) {
    seen.set(marker, (times = new Float64Array(streams).fill(NaN)));
    seenCount.set(marker, 0);
  }
  if (!Number.isNaN(times[stream]!)) return;
  times[stream] = at;
  const n = seenCount.get(marker)! + 1;
  seenCount.set(marker, n);
  if (n === streams) {
    process.send!({ type: 'seen', marker, at: [...times] });
    seen.delete(marker);
    seenCount.delete(marker);
  }
}

function open(msg: OpenMessage): void {
  streams = msg.count;
  readyLeft = msg.count;
  const targetPrefix = `{"name":"${msg.target}",`;
  for (let i = 0; i < msg.count; i++) {
    const g = msg.first + i;
    const url = new URL(msg.urls[g % msg.urls.length]!);
    const follow = new Set([msg.target]);
    for (let k = 1; follow.size <= msg.follow; k++) follow.add(`svc-${(g * 7 + k * 13) % msg.services}`);
    const headers: Record<string, string> = { accept: 'text/event-stream', ...(msg.token && { authorization: `Bearer ${msg.token}` }) };
    const options = { host: url.hostname, port: url.port, path: `/v1/watch?services=${[...follow].join(',')}`, agent: false as const, headers };
    const get = url.protocol === 'https:' ? (cb: (res: http.IncomingMessage) => void) => https.get({ ...options, ca: msg.ca }, cb) : (cb: (res: http.IncomingMessage) => void) => http.get(options, cb);
    const req = get((res) => {
      if (res.statusCode !== 200) throw new Error(`watch answered ${res.statusCode}`);
      res.setEncoding('utf8');
      let buf = '';
      let ready = false;
      let last = -1;
      res.on('data', (chunk: string) => {
        const at = now();
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = block.indexOf('\ndata: ');
          if (data < 0 || !block.startsWith('event: service')) continue;
          const json = block.slice(data + 7);
          if (!json.startsWith(targetPrefix)) continue;
          if (!ready) {
            ready = true;
            if (--readyLeft === 0) process.send!({ type: 'ready' });
          }
          const marker = markerIn(json);
          if (marker > last) {
            last = marker;
            record(i, marker, at);
          }
        }
      });
      res.on('end', () => process.send!({ type: 'error', message: `stream ${g} ended` }));
    });
    req.on('error', (err) => process.send!({ type: 'error', message: `stream ${g}: ${err.message}` }));
    requests.push(req);
  }
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'open') open(msg as OpenMessage);
  else if (msg.type === 'close') {
    for (const r of requests) r.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
