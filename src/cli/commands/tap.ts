/** `hyphae tap <service>`: a live sample of the requests a service's instances serve, as `linkerd viz tap` shows them. */
import type { IncomingMessage } from 'node:http';
import { isDnsLabel } from '../../config/dns-label.js';
import type { TapSample } from '../../config/tap.js';
import { DEFAULT_TAP_MAX_RPS, MAX_TAP_DURATION_MS, MAX_TAP_MAX_RPS, TAP_PATH } from '../../config/tap-limits.js';
import { parseSse } from '../../discovery/sse.js';
import { apiFlags, apiFlagsUsage, connectionFrom, describeApiError, type ApiConnection } from '../api-client.js';
import { type Command, parseCommandArgs, UsageError } from '../command.js';
import { connectionHint } from '../connection-hint.js';
import { agentFor, readText, send } from '../http-request.js';
import { durationFlag, intFlag } from '../flags.js';

const usage = `Usage: hyphae tap <service> [-n namespace] [--max-rps N] [--duration 5m] [--path-prefix /x] [--method GET] [-o json]

Stream a live sample of the requests the instances of <service> serve: one
line per request, with its caller's verified identity (src), the instance
that served it (dst), method, path (normalized, without its query), status
and latency, until Ctrl-C or --duration. Refused requests (403, 400, shed
503) are shown too. Needs the admin token: paths can carry data.

  req id=1 src=spiffe://hyphae.local/ns/default/sa/web dst=127.0.0.1:40123 :method=GET :path=/items status=200 latency=3.1ms

Options:
  -n, --namespace <ns>    the service's namespace (default "default")
  --max-rps <n>           samples per second at most, per instance and in all (default ${DEFAULT_TAP_MAX_RPS}, at most ${MAX_TAP_MAX_RPS});
                          what is over is counted and reported on stderr as dropped
  --duration <d>          stop after this long (default 5m, at most ${MAX_TAP_DURATION_MS / 60_000}m), e.g. 30s
  --path-prefix <path>    only requests whose path starts with this
  --method <METHOD>       only requests with this method
  -o, --output json       one JSON object per request instead of the line above
  -h, --help              show this help

${apiFlagsUsage}

Exit status: 0 stopped by Ctrl-C, --duration or a closed pipe; 1 the tap could not be opened
(unknown service, a viewer token, too many taps) or the control plane went away; 2 bad usage.
`;

export const tapCommand: Command = {
  name: 'tap',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        ...apiFlags,
        namespace: { type: 'string', short: 'n' },
        'max-rps': { type: 'string' },
        duration: { type: 'string' },
        'path-prefix': { type: 'string' },
        method: { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const [service, ...extra] = positionals;
    if (service === undefined) throw new UsageError('name the service to tap: hyphae tap <service>');
    if (extra.length > 0) throw new UsageError(`one service at a time (got ${positionals.length})`);
    const namespace = values.namespace ?? 'default';
    for (const [what, v] of [
      ['service', service],
      ['namespace', namespace],
    ] as const) {
      if (!isDnsLabel(v)) throw new UsageError(`${what} "${v}" is not a valid name (a lower-case DNS label)`);
    }
    if (values.output !== undefined && values.output !== 'json') throw new UsageError(`-o must be json, got "${values.output}"`);
    const maxRps = intFlag('max-rps', values['max-rps'], 1, MAX_TAP_MAX_RPS);
    const durationMs = durationFlag('duration', values.duration, 1000, MAX_TAP_DURATION_MS);
    const prefix = values['path-prefix'];
    if (prefix !== undefined && !/^\/[\x21-\x7e]{0,255}$/.test(prefix)) throw new UsageError(`--path-prefix must start with "/" and hold printable ASCII only, got "${prefix}"`);
    const method = values.method;
    if (method !== undefined && !/^[A-Z]{1,16}$/.test(method)) throw new UsageError(`--method must be an upper-case HTTP method such as GET, got "${method}"`);

    const query = new URLSearchParams();
    if (maxRps !== undefined) query.set('maxRps', String(maxRps));
    if (durationMs !== undefined) query.set('duration', `${durationMs}ms`);
    if (prefix !== undefined) query.set('pathPrefix', prefix);
    if (method !== undefined) query.set('method', method);
    const path = `${TAP_PATH}/${namespace}/${service}${query.size > 0 ? `?${query}` : ''}`;
    return tap(await connectionFrom(values), path, values.output === 'json');
  },
};

async function tap(conn: ApiConnection, path: string, asJson: boolean): Promise<number> {
  const agent = agentFor(conn.url, conn.ca);
  // Ctrl-C ends the tap cleanly: the control plane sees the stream close and turns the instances off.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let res: IncomingMessage;
    try {
      res = await send(conn.url, agent, {
        method: 'GET',
        path,
        headers: conn.token ? { authorization: `Bearer ${conn.token}`, accept: 'text/event-stream' } : { accept: 'text/event-stream' },
        signal: stop.signal,
        headersTimeoutMs: 10_000,
        // The control plane writes at least a comment every 15 s.
        bodyTimeoutMs: 60_000,
      });
    } catch (err) {
      if (stop.signal.aborted) return 0;
      const hint = connectionHint(conn.url, err, conn.ca !== undefined);
      throw new Error(`cannot reach the control plane at ${conn.url}: ${(err as Error).message}${hint ? `\n  hint: ${hint}` : ''}`, { cause: err });
    }
    if (res.statusCode !== 200) {
      const text = await readText(res);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      throw new Error(describeApiError(res.statusCode!, body));
    }
    let n = 0;
    try {
      for await (const ev of parseSse(res)) {
        if (ev.event === 'sample') {
          const s = JSON.parse(ev.data) as TapSample;
          n++;
          process.stdout.write(asJson ? `${JSON.stringify(jsonLine(n, s))}\n` : textLine(n, s));
        } else if (ev.event === 'tap') {
          const t = JSON.parse(ev.data) as { service: string; maxRps: number; durationMs: number; instances: number };
          process.stderr.write(
            `tapping ${t.service}: at most ${t.maxRps} requests/s for ${Math.round(t.durationMs / 1000)}s, ${t.instances} instance stream${t.instances === 1 ? '' : 's'} told (Ctrl-C to stop)\n`,
          );
        } else if (ev.event === 'dropped') {
          const d = JSON.parse(ev.data) as { atInstances: number; atControlPlane: number };
          process.stderr.write(`dropped ${d.atInstances + d.atControlPlane} requests over the rate cap (${d.atInstances} at the instances, ${d.atControlPlane} at the control plane)\n`);
        } else if (ev.event === 'end') {
          const e = JSON.parse(ev.data) as { reason: string };
          process.stderr.write(`tap ended: ${e.reason} (${n} requests shown)\n`);
          return 0;
        }
      }
    } catch (err) {
      if (stop.signal.aborted) return 0;
      throw new Error(`the tap stream broke: ${(err as Error).message}`, { cause: err });
    }
    if (stop.signal.aborted) return 0;
    throw new Error('the control plane closed the tap without saying why (did it restart?)');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    agent.destroy();
  }
}

function jsonLine(id: number, s: TapSample): Record<string, unknown> {
  return {
    id,
    time: new Date(s.t).toISOString(),
    src: s.src ?? null,
    dst: s.instance,
    method: s.method,
    path: s.path,
    status: s.status,
    latencyMs: s.latencyMs,
    ...(s.route !== undefined ? { route: s.route } : {}),
  };
}

/** Anything an instance sent is printed as printable ASCII: a path or an id must not move the terminal's cursor. */
function printable(text: string): string {
  return text.replace(/[^\x21-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function textLine(id: number, s: TapSample): string {
  const route = s.route !== undefined ? ` route=${printable(s.route)}` : '';
  const status = s.status === 0 ? 'aborted' : String(s.status);
  return `req id=${id} src=${s.src !== undefined ? printable(s.src) : '-'} dst=${printable(s.instance)} :method=${printable(s.method)} :path=${printable(s.path)}${route} status=${status} latency=${s.latencyMs}ms\n`;
}
