/* The dashboard's drill-down: a service picked (its row, or its node in the graph) shows its charts, its
 * instances, who calls it and what it calls (with whether both ends hold mesh certificates), its traffic
 * per route rule, the routes and policies that concern it, and what changed around it lately (/v1/changes). Loaded before app.js,
 * whose helpers it uses when called. */
/* global fetch, state, $, el, td, short, rps, pct, ms, rateClass, clusterOf, trend, historyOf */
'use strict';

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- called from app.js: classic scripts share one global scope
function selectService(ref) {
  state.selected = state.selected === ref ? null : ref;
  state.changes = null;
  renderDetails(state.summary);
  if (state.selected) void loadChanges(state.selected);
}

/** The service's recent changes; a failure shows as such in the panel (the stream says why in the badge). */
async function loadChanges(ref) {
  let changes;
  try {
    const res = await fetch(`/v1/changes?service=${encodeURIComponent(ref)}&limit=20`, { headers: state.token ? { authorization: `Bearer ${state.token}` } : {} });
    changes = res.ok ? (await res.json()).changes : { error: `answered ${res.status}` };
  } catch {
    changes = { error: 'control plane unreachable' };
  }
  if (state.selected !== ref) return;
  state.changes = changes;
  renderDetails(state.summary);
}

function table(id, head, rows, empty) {
  const t = el('table', { id }, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))), el('tbody'));
  const body = t.querySelector('tbody');
  body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colSpan: head.length }, empty))]));
  return t;
}

/** Both ends hold a certificate from the mesh's CA (so the call is mTLS), as far as the reports say. */
function mtlsOf(s, source, destination) {
  const certified = (ref) => {
    const mine = s.instances.filter((i) => `${i.namespace}/${i.service}` === ref);
    return mine.length > 0 && mine.every((i) => i.certificate !== null);
  };
  if (source === null) return { text: 'unknown', cls: 'muted', title: 'a caller without a service name: its certificate is not reported' };
  return certified(source) && certified(destination)
    ? { text: 'mTLS', cls: 'ok', title: 'both ends hold certificates from the mesh CA' }
    : { text: 'no cert', cls: 'warn', title: 'one end reports no mesh certificate (plaintext or PERMISSIVE)' };
}

function edgeRows(s, edges) {
  return edges.map((e) => {
    const m = mtlsOf(s, e.source, e.destination);
    return el(
      'tr',
      { 'data-edge': `${e.source ?? ''}>${e.destination}` },
      td(short(e.source) ?? '(clients)'),
      td(short(e.destination)),
      td(rps(e.rps), 'num'),
      td(pct(e.successRate), `num ${rateClass(e.successRate)}`),
      td(ms(e.p99Ms), 'num'),
      el('td', { class: m.cls, title: m.title, 'data-field': 'mtls' }, m.text),
    );
  });
}

function renderDetails(s) {
  const box = $('details');
  const ref = state.selected;
  const service = s && ref ? s.services.find((v) => `${v.namespace}/${v.name}` === ref) : undefined;
  if (!service) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const [ns, name] = ref.split('/');
  const instances = s.instances.filter((i) => `${i.namespace}/${i.service}` === ref);
  const routes = s.routes.filter((r) => r.parents.includes(ref) || r.rules.some((x) => x.backends.some((b) => b === name || b.startsWith(`${name} `) || b.startsWith(`${name}/`))));
  const policies = s.policies.filter((p) => p.namespace === ns && (p.selector === null || p.selector === name));
  const head = ['source', 'destination', 'rps', 'success', 'p99', 'mTLS'];
  const changes = state.changes;
  box.hidden = false;
  box.setAttribute('data-service', ref);
  box.replaceChildren(
    el('h2', {}, `${short(ref)} `, el('span', { class: 'hint' }, `${service.instances} instances · ${rps(service.traffic.rps)} rps in · click again to close`)),
    el(
      'div',
      { class: 'trend-row' },
      'last 15 min: ',
      trend(
        historyOf('services', (h) => h.service === ref),
        'span',
      ),
    ),
    el('h3', {}, 'Instances'),
    table(
      'details-instances',
      ['instance', 'cluster', 'zone', 'version', 'health', 'certificate', 'rps in', 'p99'],
      instances.map((i) =>
        el(
          'tr',
          {},
          td(i.id),
          td(clusterOf(i), '', 'cluster'),
          td(i.zone ?? '–'),
          td(i.version ?? '–'),
          td(i.health, i.health === 'reporting' ? 'ok' : 'bad'),
          td(i.certificate ? i.certificate.spiffeId : '–'),
          td(rps(i.traffic.rps), 'num'),
          td(ms(i.traffic.p99Ms), 'num'),
        ),
      ),
      'no instances',
    ),
    el('h3', {}, 'Callers'),
    table(
      'details-callers',
      head,
      edgeRows(
        s,
        s.edges.filter((e) => e.destination === ref),
      ),
      'no callers in this window',
    ),
    el('h3', {}, 'Calls'),
    table(
      'details-calls',
      head,
      edgeRows(
        s,
        s.edges.filter((e) => e.source === ref),
      ),
      'calls nothing in this window',
    ),
    el('h3', {}, 'Traffic in, by route rule'),
    table(
      'details-route-traffic',
      ['route', 'rule', 'rps', 'success', 'p50', 'p99', 'requests'],
      (s.routeTraffic ?? [])
        .filter((r) => r.destination === ref)
        .map((r) =>
          el(
            'tr',
            { 'data-route': `${r.route}${r.rule === null ? '' : ` ${r.rule}`}` },
            td(short(r.route)),
            td(r.rule ?? '–'),
            td(rps(r.rps), 'num'),
            td(pct(r.successRate), `num ${rateClass(r.successRate)}`),
            td(ms(r.p50Ms), 'num'),
            td(ms(r.p99Ms), 'num'),
            td(r.requests, 'num'),
          ),
        ),
      'no traffic in this window',
    ),
    el('h3', {}, 'Routes and policies'),
    table(
      'details-config',
      ['kind', 'name', 'what'],
      [
        ...routes.map((r) => el('tr', {}, td('Route'), td(short(`${r.namespace}/${r.name}`)), td(r.rules.map((x) => `${x.name} → ${x.backends.join(', ')}`).join('; ')))),
        ...policies.map((p) => el('tr', {}, td('AuthorizationPolicy'), td(short(`${p.namespace}/${p.name}`)), td(`${p.action}, ${p.rules} rule(s)`, p.action === 'DENY' ? 'bad' : 'ok'))),
      ],
      'no route or policy names it',
    ),
    el('h3', {}, 'Recent changes'),
    changes === null || changes === undefined
      ? el('p', { class: 'empty' }, 'loading…')
      : changes.error
        ? el('p', { class: 'bad' }, `changes: ${changes.error}`)
        : table(
            'details-changes',
            ['when', 'what', 'name', 'detail'],
            changes.map((c) =>
              el(
                'tr',
                { 'data-change': c.action },
                td(new Date(c.at).toLocaleTimeString()),
                td(`${c.kind} ${c.action}`),
                td(short(`${c.namespace}/${c.name}`)),
                td(c.revision ? `${c.detail} (rev ${c.revision})` : c.detail),
              ),
            ),
            'nothing changed since the control plane started',
          ),
  );
}
