/**
 * Counters, gauges and histograms, just what the control plane's own metrics need (see
 * control-plane-metrics.ts for why not prom-client). A labelled series is a *cell* made once per label
 * combination and kept by its caller, so recording on the request path is an increment on a field
 * (plus, for a histogram, a walk of its few bucket bounds): no lookup by string, no allocation.
 * Cardinality is the callers' to bound: every label value must come from a fixed set.
 */
import { familyHeader, formatValue, labelString, type MetricType } from './exposition.js';

export interface Family {
  render(): string | Promise<string>;
}

export class CounterCell {
  value = 0;
  constructor(readonly labels: string) {}
  inc(by = 1): void {
    this.value += by;
  }
}

export class HistogramCell {
  /** counts[i]: observations <= bounds[i] (not cumulative here; summed when rendered). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: string,
    readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (v <= bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

/** Cells by label values; a cell is made on first use and kept, so callers fetch it once and hold it. */
abstract class LabelledFamily<C> implements Family {
  #cells = new Map<string, C>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}
  protected abstract make(labels: string): C;
  protected abstract lines(cell: C): string;
  protected abstract get type(): MetricType;
  /** The cell for these label values (in labelNames order). Not for the request path: hold the cell instead. */
  cell(...values: string[]): C {
    const labels = labelString(this.labelNames, values);
    let c = this.#cells.get(labels);
    if (!c) this.#cells.set(labels, (c = this.make(labels)));
    return c;
  }
  render(): string {
    let out = familyHeader(this.name, this.type, this.help);
    for (const c of this.#cells.values()) out += this.lines(c);
    return out;
  }
}

export class CounterFamily extends LabelledFamily<CounterCell> {
  protected get type(): MetricType {
    return 'counter';
  }
  protected make(labels: string): CounterCell {
    return new CounterCell(labels);
  }
  protected lines(c: CounterCell): string {
    return `${this.name}${c.labels} ${formatValue(c.value)}\n`;
  }
}

export class HistogramFamily extends LabelledFamily<HistogramCell> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly bounds: readonly number[],
  ) {
    super(name, help, labelNames);
  }
  protected get type(): MetricType {
    return 'histogram';
  }
  protected make(labels: string): HistogramCell {
    return new HistogramCell(labels, this.bounds);
  }
  protected lines(c: HistogramCell): string {
    // Cells are made for every route up front: one never observed would only be 17 lines of zeros.
    if (c.count === 0) return '';
    // `le` goes after the cell's own labels: `{route="x",le="0.1"}`, or `{le="0.1"}` without labels.
    const open = c.labels === '' ? '{' : `${c.labels.slice(0, -1)},`;
    let out = '';
    let cumulative = 0;
    for (let i = 0; i < c.bounds.length; i++) {
      cumulative += c.counts[i]!;
      out += `${this.name}_bucket${open}le="${formatValue(c.bounds[i]!)}"} ${cumulative}\n`;
    }
    out += `${this.name}_bucket${open}le="+Inf"} ${c.count}\n`;
    out += `${this.name}_sum${c.labels} ${formatValue(c.sum)}\n`;
    out += `${this.name}_count${c.labels} ${c.count}\n`;
    return out;
  }
}

/** A value read when scraped (a size, a count of open streams): nothing to keep up to date in between. */
export interface GaugeSample {
  labels?: readonly string[];
  value: number;
}

export class GaugeFamily implements Family {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly read: () => GaugeSample[] | Promise<GaugeSample[]>,
    readonly type: 'gauge' | 'counter' = 'gauge',
  ) {}
  async render(): Promise<string> {
    const samples = await this.read();
    if (samples.length === 0) return '';
    let out = familyHeader(this.name, this.type, this.help);
    for (const s of samples) out += `${this.name}${labelString(this.labelNames, s.labels ?? [])} ${formatValue(s.value)}\n`;
    return out;
  }
}

/** One sample without labels, read when scraped. */
export function readAtScrape(name: string, help: string, read: () => number | undefined | Promise<number | undefined>, type: 'gauge' | 'counter' = 'gauge'): GaugeFamily {
  return new GaugeFamily(
    name,
    help,
    [],
    async () => {
      const value = await read();
      return value === undefined ? [] : [{ value }];
    },
    type,
  );
}

export async function renderAll(families: readonly Family[]): Promise<string> {
  let out = '';
  for (const f of families) out += await f.render();
  return out;
}
