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
