/* The hyphae dashboard: follows /v1/stats/stream (SSE) and redraws the
 * topology (cytoscape) and the tables on every summary, without reloading. */
/* global cytoscape, document, window, URLSearchParams, Node, fetch, TextDecoderStream, setTimeout, clearTimeout, AbortController */
/* global trend, historyOf, followHistory, renderDetails, selectService */
/* (those are charts.js's and details.js's: loaded first, called once the page runs) */
'use strict';

const params = new URLSearchParams(window.location.search);
// ?window=<seconds>, 1 to 60: the control plane keeps summaries for 10, 30 and 60 s and serves the one that covers it.
const requestedWindow = Number(params.get('window'));
const windowSeconds = Number.isInteger(requestedWindow) && requestedWindow >= 1 && requestedWindow <= 60 ? requestedWindow : 10;
// cluster: the control plane's, as its answers name it (the hyphae-cluster header); null from one that predates clusters.
const state = { summary: null, cy: null, nodeKey: '', history: null, cluster: null };
// For tests and the curious: the latest summary and the graph.
window.hyphaeDashboard = state;

const $ = (id) => document.getElementById(id);
const short = (ref) => (ref && ref.startsWith('default/') ? ref.slice(8) : ref);
const pct = (r) => (r === null ? '–' : `${(r * 100).toFixed(r === 1 ? 0 : 1)}%`);
const ms = (v) => (v === null ? '–' : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`);
const rps = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
// An imported instance names its own cluster; every other one runs in the control plane's.
const clusterOf = (i) => i.cluster ?? state.cluster ?? '–';
const rateClass = (r) => (r === null ? 'muted' : r >= 0.99 ? 'ok' : r >= 0.95 ? 'warn' : 'bad');

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const td = (text, cls, field) => el('td', { class: cls || '', ...(field ? { 'data-field': field } : {}) }, text);

function fillTable(id, rows, empty) {
  const body = $(id).querySelector('tbody');
  body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colSpan: 9 }, empty))]));
}

function render(s) {
  state.summary = s;
  const cp = s.controlPlane;
  $('cluster').textContent = state.cluster ? `cluster ${state.cluster}` : 'cluster unknown';
  $('cp').textContent = `revision ${cp.revision} · ${cp.services} services · ${cp.instances} instances · ${cp.reporters} reporting processes · updated ${new Date(s.generatedAt).toLocaleTimeString()}`;
  $('window').textContent = `(last ${s.windowSeconds}s)`;

  const w = $('warnings');
  w.hidden = s.warnings.length === 0;
  w.replaceChildren(el('ul', {}, ...s.warnings.map((x) => el('li', { 'data-kind': x.kind }, x.message))));

  fillTable(
    'edges',
    s.edges.map((e) =>
      el(
        'tr',
        { 'data-edge': `${e.source ?? ''}>${e.destination}` },
        td(short(e.source) ?? '(clients)', '', 'source'),
        td(short(e.destination), '', 'destination'),
        td(rps(e.rps), 'num', 'rps'),
        td(pct(e.successRate), `num ${rateClass(e.successRate)}`, 'success'),
        td(ms(e.p50Ms), 'num', 'p50'),
        td(ms(e.p99Ms), 'num', 'p99'),
        td(e.requests, 'num', 'requests'),
        trend(historyOf('edges', (h) => `${h.source ?? ''}>${h.destination}` === `${e.source ?? ''}>${e.destination}`)),
      ),
    ),
    'no traffic reported in this window',
  );
  fillTable(
    'services',
    s.services.map((v) =>
      el(
        'tr',
        { 'data-service': `${v.namespace}/${v.name}`, class: 'pick', onclick: () => selectService(`${v.namespace}/${v.name}`) },
        td(short(`${v.namespace}/${v.name}`)),
        td(v.instances, 'num', 'instances'),
        td(v.hasConfig ? 'yes' : '–'),
        td(rps(v.traffic.rps), 'num', 'rps'),
        td(pct(v.traffic.successRate), `num ${rateClass(v.traffic.successRate)}`),
        td(ms(v.traffic.p99Ms), 'num'),
        trend(historyOf('services', (h) => h.service === `${v.namespace}/${v.name}`)),
      ),
    ),
    'no services yet',
  );
  fillTable(
    'instances',
    s.instances.map((i) => {
      const cert = i.certificate ? `${Math.round(i.certificate.expiresInSeconds / 3600)}h left` : '–';
      const health = i.health === 'reporting' ? 'ok' : i.health === 'silent' ? 'bad' : 'muted';
      return el(
        'tr',
        { 'data-instance': i.id },
        td(short(`${i.namespace}/${i.service}`)),
        td(i.id),
        td(clusterOf(i), '', 'cluster'),
        td(i.zone ?? '–'),
        td(i.version ?? '–'),
        td(i.health, health, 'health'),
        td(i.observedBy ? `${i.ejectedBy}/${i.observedBy}` : '–', i.ejectedBy ? 'bad' : '', 'ejected'),
        td(cert, i.certificate && i.certificate.expiresInSeconds < 3600 ? 'warn' : '', 'certificate'),
        td(rps(i.traffic.rps), 'num', 'rps'),
        td(ms(i.traffic.p99Ms), 'num'),
      );
    }),
    'no instances registered',
  );
  fillTable(
    'routes',
    s.routes.map((r) => el('tr', {}, td(short(`${r.namespace}/${r.name}`)), td(r.parents.map(short).join(', ')), td(r.rules.map((x) => `${x.name} → ${x.backends.join(', ')}`).join('; ')))),
    'no routes',
  );
  fillTable(
    'policies',
    s.policies.map((p) => el('tr', {}, td(short(`${p.namespace}/${p.name}`)), td(p.action, p.action === 'DENY' ? 'bad' : 'ok'), td(p.selector ?? '(namespace)'), td(p.rules, 'num'))),
    'no authorization policies',
  );
  drawGraph(s);
  renderDetails(s);
}

/**
 * Layers, left to right: a service sits one column right of its furthest
 * caller (callers first, as requests flow), so each edge label has a whole
 * column gap to itself. Cycles are cut off after as many rounds as nodes.
 */
function layered(ids, edges) {
  const depth = new Map(ids.map((id) => [id, 0]));
  for (let round = 0; round < ids.length; round++) {
    let moved = false;
    for (const e of edges) {
      if (e.source === e.target) continue;
      const d = depth.get(e.source) + 1;
      if (d > depth.get(e.target) && d < ids.length) {
        depth.set(e.target, d);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const columns = new Map();
  for (const id of [...ids].sort()) {
    const d = depth.get(id);
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(id);
  }
  const pos = {};
  for (const [d, col] of columns) col.forEach((id, i) => (pos[id] = { x: d * 330, y: (i - (col.length - 1) / 2) * 140 }));
  return { name: 'preset', positions: (node) => pos[node.id()], fit: true, padding: 50 };
}

function drawGraph(s) {
  if (typeof cytoscape !== 'function') return;
  const nodes = new Map();
  const node = (ref) => {
    const id = ref ?? '(clients)';
    if (!nodes.has(id)) nodes.set(id, { id, label: short(id), rps: 0, instances: null });
    return nodes.get(id);
  };
  for (const v of s.services) Object.assign(node(`${v.namespace}/${v.name}`), { instances: v.instances, rps: v.traffic.rps });
  for (const e of s.edges) {
    node(e.source);
    node(e.destination);
  }
  const elements = [
    ...[...nodes.values()].map((n) => ({
      group: 'nodes',
      // A caller that is not a registered service (a client-only process) is shown by name alone.
      data: { id: n.id, label: n.instances === null ? n.label : `${n.label}\n${n.instances} inst · ${rps(n.rps)} rps in`, down: n.instances === 0 ? 1 : 0, client: n.instances === null ? 1 : 0 },
    })),
    ...s.edges.map((e) => ({
      group: 'edges',
      data: {
        id: `${e.source ?? '(clients)'}>${e.destination}`,
        source: e.source ?? '(clients)',
        target: e.destination,
        label: `${rps(e.rps)} rps · ${pct(e.successRate)} · p99 ${ms(e.p99Ms)}`,
        health: rateClass(e.successRate),
        rps: e.rps,
        successRate: e.successRate,
        p99Ms: e.p99Ms,
      },
    })),
  ];
  const key = elements
    .map((x) => x.data.id)
    .sort()
    .join('|');
  const layout = () =>
    layered(
      [...nodes.keys()],
      elements.filter((x) => x.group === 'edges').map((x) => x.data),
    );
  if (!state.cy) {
    state.cy = cytoscape({
      container: $('graph'),
      elements,
      wheelSensitivity: 0.2,
      // Fit small meshes without blowing them up: labels stay legible, nodes stay small.
      maxZoom: 1.2,
      minZoom: 0.2,
      style: [
        {
          selector: 'node',
          style: { 'background-color': '#1f6feb', label: 'data(label)', color: '#d8e0e8', 'font-size': 11, 'text-wrap': 'wrap', 'text-valign': 'bottom', 'text-margin-y': 6, width: 34, height: 34 },
        },
        { selector: 'node[down = 1]', style: { 'background-color': '#6e7681' } },
        { selector: 'node[client = 1]', style: { shape: 'round-rectangle', 'background-color': '#30363d' } },
        {
          selector: 'edge',
          style: {
            width: 2.5,
            'curve-style': 'bezier',
            'target-arrow-shape': 'triangle',
            label: 'data(label)',
            'font-size': 11,
            color: '#d8e0e8',
            'text-rotation': 'autorotate',
            'text-margin-y': -12,
            'text-background-color': '#0f1419',
            'text-background-opacity': 0.85,
            'text-background-padding': 2,
          },
        },
        { selector: 'edge[health = "ok"]', style: { 'line-color': '#3fb950', 'target-arrow-color': '#3fb950' } },
        { selector: 'edge[health = "warn"]', style: { 'line-color': '#d29922', 'target-arrow-color': '#d29922' } },
        { selector: 'edge[health = "bad"]', style: { 'line-color': '#f85149', 'target-arrow-color': '#f85149' } },
      ],
      layout: layout(),
    });
    // A service's node opens its details, as its row does (a caller without a service has none).
    state.cy.on('tap', 'node', (evt) => {
      if (!evt.target.data('client')) selectService(evt.target.id());
    });
    state.nodeKey = key;
    return;
  }
  const cy = state.cy;
  if (key !== state.nodeKey) {
    // The set of services or edges changed: rebuild and lay out again.
    cy.elements().remove();
    cy.add(elements);
    cy.layout(layout()).run();
    state.nodeKey = key;
  } else {
    // Same shape: update the numbers in place, without moving anything.
    for (const x of elements) cy.getElementById(x.data.id).data(x.data);
  }
}

function live(on, why) {
  $('live').className = on ? 'live on' : 'live off';
  $('live').textContent = on ? 'live' : why || 'reconnecting…';
}

/**
 * A secure control plane wants a token for the stream: open the page as /ui#token=<token> (the fragment
 * never leaves the browser, so it is in no log). The stream is read with fetch rather than EventSource:
 * EventSource cannot send a header, and it hides the answer's status, so a 401 would look like a
 * network blip and the page would say "reconnecting…" for ever.
 */
function connect() {
  const token = new URLSearchParams(window.location.hash.slice(1)).get('token');
  state.token = token;
  void stream(token);
  void followHistory(token);
}

// A summary arrives every second; this long without one, the stream is stuck (a proxy holding it, a
// control plane that stopped pushing): the page says its figures are old and opens a new stream.
const STALE_MS = 5_000;
const STALE = 'stale: no update for 5 s; reconnecting…';
let staleTimer;

function watchStale(controller) {
  clearTimeout(staleTimer);
  staleTimer = setTimeout(() => controller.abort(new Error(STALE)), STALE_MS);
}

/** Why the stream stopped, as a person can act on it; undefined when it is worth trying again. */
function refusal(status, token) {
  if (status === 401 && !token) return 'this control plane needs a token: open /ui#token=<viewer token> (hyphae token create --viewer)';
  if (status === 401) return 'token not valid (revoked, expired or mistyped)';
  if (status === 403) return 'this token may not read the dashboard: use a viewer or admin token';
  return undefined;
}

async function stream(token) {
  for (;;) {
    let pauseMs = 2_000;
    let why;
    const controller = new AbortController();
    try {
      const headers = { accept: 'text/event-stream' };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`/v1/stats/stream?window=${windowSeconds}`, { headers, signal: controller.signal });
      // A missing, revoked or expired token stays so: trying again would only be refused again.
      const final = refusal(res.status, token);
      if (final) {
        live(false, final);
        state.stopped = final;
        return;
      }
      // Over the control plane's stream caps (other tabs with the same token): wait longer before trying again.
      if (res.status === 429) {
        pauseMs = 10_000;
        why = 'too many open streams; retrying…';
      }
      if (!res.ok || !res.body) {
        why ??= `stream answered ${res.status}; retrying…`;
        throw new Error(why);
      }
      state.cluster = res.headers.get('hyphae-cluster');
      watchStale(controller);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const lines = block.split('\n');
          const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
          const data = lines
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (event === 'summary' && data) {
            live(true);
            state.cluster = res.headers.get('hyphae-cluster');
            watchStale(controller);
            render(JSON.parse(data));
          }
        }
      }
      why ??= 'stream ended; reconnecting…';
    } catch {
      // Our own abort when the stream went quiet; otherwise fetch rejects only when no answer came at all.
      why ??= controller.signal.aborted ? STALE : 'control plane unreachable; retrying…';
    }
    clearTimeout(staleTimer);
    live(false, why);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

connect();
