/**
 * Work that reads the whole stats store, cut into slices. A generator does
 * the work and yields now and then; `runSliced` runs it a few milliseconds
 * at a time and lets the event loop in between (setImmediate: I/O first), so
 * that a summary of a full store never holds up the API, health probes
 * included. `drain` runs one to the end at once (unit tests, small stores).
 */
export type Sliced<T> = Generator<void, T, void>;

export function drain<T>(work: Sliced<T>): T {
  for (;;) {
    const step = work.next();
    if (step.done) return step.value;
  }
}

export async function runSliced<T>(work: Sliced<T>, sliceMs: number): Promise<T> {
  for (;;) {
    const start = performance.now();
    for (;;) {
      const step = work.next();
      if (step.done) return step.value;
      if (performance.now() - start >= sliceMs) break;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Items sorted by Array.prototype.sort in one step of sortInSlices; longer lists are merged from such runs. */
const SORT_RUN = 512;

/**
 * `items` sorted by `compare`, stably, as Array.prototype.sort would: runs of
 * SORT_RUN sorted natively, then merged pairwise (bottom-up merge sort),
 * yielding between runs and merges. A summary of a full store sorts tens of
 * thousands of edges: tens of milliseconds in one go.
 */
export function* sortInSlices<T>(items: readonly T[], compare: (a: T, b: T) => number): Sliced<T[]> {
  let from = items.slice();
  for (let lo = 0; lo < from.length; lo += SORT_RUN) {
    const run = from.slice(lo, lo + SORT_RUN).sort(compare);
    for (let k = 0; k < run.length; k++) from[lo + k] = run[k]!;
    yield;
  }
  let to = new Array<T>(from.length);
  for (let width = SORT_RUN; width < from.length; width *= 2) {
    for (let lo = 0; lo < from.length; lo += 2 * width) {
      const mid = Math.min(lo + width, from.length);
      const hi = Math.min(lo + 2 * width, from.length);
      let i = lo;
      let j = mid;
      let k = lo;
      // `<= 0` takes the left one first on ties: stable.
      while (i < mid && j < hi) to[k++] = compare(from[i]!, from[j]!) <= 0 ? from[i++]! : from[j++]!;
      while (i < mid) to[k++] = from[i++]!;
      while (j < hi) to[k++] = from[j++]!;
      yield;
    }
    [from, to] = [to, from];
  }
  return from;
}

/** Items serialised between two yields. */
const JSON_CHUNK = 500;

/**
 * JSON.stringify of an object whose long arrays (a summary's edges and
 * instances: tens of thousands on a big mesh, megabytes of JSON) are
 * serialised a chunk at a time. The text is the same as JSON.stringify's.
 */
export function* jsonInSlices(value: object): Sliced<string> {
  const out: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    out.push(`${out.length === 0 ? '{' : ','}${JSON.stringify(key)}:`);
    if (!Array.isArray(v) || v.length <= JSON_CHUNK) {
      out.push(JSON.stringify(v));
      continue;
    }
    out.push('[');
    for (let i = 0; i < v.length; i += JSON_CHUNK) {
      // A chunk's own brackets dropped: its items join the others.
      out.push(`${i === 0 ? '' : ','}${JSON.stringify(v.slice(i, i + JSON_CHUNK)).slice(1, -1)}`);
      yield;
    }
    out.push(']');
  }
  return out.length === 0 ? '{}' : `${out.join('')}}`;
}
