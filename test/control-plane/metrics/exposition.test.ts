/**
 * The text exposition format (0.0.4) as our instruments write it: escaping of label values and help
 * text, cumulative histogram buckets with `le` after the cell's labels, `+Inf`, and one cell per label
 * combination. Prometheus itself reads the output in control-plane-metrics.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHelp, escapeLabelValue, formatValue, labelString } from '../../../src/control-plane/metrics/exposition.js';
import { CounterFamily, GaugeFamily, HistogramFamily, renderAll } from '../../../src/control-plane/metrics/instruments.js';

describe('Prometheus text exposition', () => {
  it('escapes backslash, double quote and line feed in label values, and only backslash and line feed in help', () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    assert.equal(escapeLabelValue('/v1/leases/:leaseId'), '/v1/leases/:leaseId');
    assert.equal(escapeHelp('say "hi"\\now\nnext'), 'say "hi"\\\\now\\nnext');
    assert.equal(labelString(['route', 'code'], ['/x"y', '200']), '{route="/x\\"y",code="200"}');
    assert.equal(labelString([], []), '');
  });

  it('writes non-finite values as Prometheus reads them', () => {
    assert.equal(formatValue(Infinity), '+Inf');
    assert.equal(formatValue(-Infinity), '-Inf');
    assert.equal(formatValue(NaN), 'NaN');
    assert.equal(formatValue(0.25), '0.25');
  });

  it('renders a counter family with one line per cell, the same cell for the same labels', async () => {
    const c = new CounterFamily('x_total', 'Things.\nMore.', ['kind']);
    c.cell('a').inc();
    c.cell('a').inc(2);
    c.cell('b\n').inc();
    assert.equal(c.cell('a'), c.cell('a'));
    assert.equal(await renderAll([c]), '# HELP x_total Things.\\nMore.\n# TYPE x_total counter\nx_total{kind="a"} 3\nx_total{kind="b\\n"} 1\n');
  });

  it('renders cumulative histogram buckets, +Inf, sum and count, and leaves out cells never observed', async () => {
    const h = new HistogramFamily('d_seconds', 'Durations.', ['route'], [0.1, 1]);
    const cell = h.cell('/a');
    h.cell('/never');
    cell.observe(0.05);
    cell.observe(0.1);
    cell.observe(0.5);
    cell.observe(3);
    const text = await renderAll([h]);
    assert.equal(
      text,
      '# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n' +
        'd_seconds_bucket{route="/a",le="0.1"} 2\nd_seconds_bucket{route="/a",le="1"} 3\nd_seconds_bucket{route="/a",le="+Inf"} 4\n' +
        'd_seconds_sum{route="/a"} 3.65\nd_seconds_count{route="/a"} 4\n',
    );
    const bare = new HistogramFamily('e_seconds', 'E.', [], [1]);
    bare.cell().observe(2);
    assert.match(await renderAll([bare]), /^e_seconds_bucket\{le="1"\} 0\ne_seconds_bucket\{le="\+Inf"\} 1\ne_seconds_sum 2\ne_seconds_count 1\n$/m);
  });

  it('reads gauges when rendered, and leaves a family with no sample out', async () => {
    let n = 1;
    const g = new GaugeFamily('g', 'G.', ['kind'], () => [{ labels: ['Service'], value: n }]);
    assert.match(await renderAll([g]), /^g\{kind="Service"\} 1$/m);
    n = 5;
    assert.match(await renderAll([g]), /^g\{kind="Service"\} 5$/m);
    assert.equal(await renderAll([new GaugeFamily('none', 'N.', [], () => [])]), '');
  });
});
