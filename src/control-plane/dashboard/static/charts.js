/* The dashboard's small charts: the last 15 minutes of each service and edge, from /v1/stats/history,
 * read once per step. Loaded before app.js, whose helpers (state, el, td, rps, pct, ms, render) it uses
 * when called. */
/* global document, fetch, setTimeout, state, el, rps, pct, ms, render */
'use strict';

const SVG = 'http://www.w3.org/2000/svg';

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- called from app.js: classic scripts share one global scope
function historyOf(kind, match) {
  return state.history ? state.history[kind].find(match) : undefined;
}

/**
 * One small line per figure (null points are gaps), scaled to its own range; the latest value and the
 * range are in the tooltip. Success is drawn against 0..100 % so that a dip reads as one.
 */
function sparkline(values, label, format, fixed) {
  const w = 48;
  const h = 16;
  const known = values.filter((v) => v !== null);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', `spark ${label}`);
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(h));
  svg.setAttribute('data-points', String(known.length));
  const lo = fixed ? fixed[0] : Math.min(...known, 0);
  const hi = fixed ? fixed[1] : Math.max(...known, lo + 1e-9);
  const x = (i) => (values.length > 1 ? (i / (values.length - 1)) * (w - 2) + 1 : w / 2);
  const y = (v) => h - 1 - ((v - lo) / (hi - lo || 1)) * (h - 2);
  let path = '';
  values.forEach((v, i) => {
    if (v === null) return;
    path += `${i > 0 && values[i - 1] !== null ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
  });
  const line = document.createElementNS(SVG, 'path');
  line.setAttribute('d', path);
  svg.append(line);
  const title = document.createElementNS(SVG, 'title');
  title.textContent = known.length ? `${label}: now ${format(known[known.length - 1])}, min ${format(Math.min(...known))}, max ${format(Math.max(...known))}` : `${label}: no traffic`;
  svg.append(title);
  return svg;
}

/** A table cell by default; `span` for a line of its own (the drill-down). */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- called from app.js: classic scripts share one global scope
function trend(series, tag = 'td') {
  if (!series) return el(tag, { class: 'muted', 'data-field': 'trend' }, '–');
  return el(tag, { class: 'trend', 'data-field': 'trend' }, sparkline(series.rps, 'rps', rps), sparkline(series.successRate, 'success', pct, [0, 1]), sparkline(series.p99Ms, 'p99', ms));
}

/** The history, once per step; a failure leaves the charts as they were (the stream says what is wrong). */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- called from app.js: classic scripts share one global scope
async function followHistory(token) {
  for (;;) {
    let stepMs = 15_000;
    try {
      const res = await fetch('/v1/stats/history', { headers: token ? { authorization: `Bearer ${token}` } : {} });
      if (res.ok) {
        state.history = await res.json();
        stepMs = state.history.stepSeconds * 1000;
        if (state.summary) render(state.summary);
      }
    } catch {
      // unreachable: the stream's status line says so
    }
    if (state.stopped) return;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
