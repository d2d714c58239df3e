import assert from 'node:assert/strict';
import { it } from 'node:test';
import { compose, type Filter, type Handler } from '../../src/core/filter.js';

type Trace = string[];

/** A filter that records when it runs before and after the layers below it. */
function tracing(name: string): Filter<Trace, Trace> {
  return (next) => async (req) => {
    const res = await next([...req, `${name}>`]);
    return [...res, `<${name}`];
  };
}

const terminal: Handler<Trace, Trace> = async (req) => [...req, 'terminal'];

it('compose runs filters outermost first and unwinds in reverse', async () => {
  const handler = compose([tracing('a'), tracing('b'), tracing('c')], terminal);
  assert.deepEqual(await handler([]), ['a>', 'b>', 'c>', 'terminal', '<c', '<b', '<a']);
});

it('compose([a, b], h) behaves exactly like a(b(h))', async () => {
  const a = tracing('a');
  const b = tracing('b');
  assert.deepEqual(await compose([a, b], terminal)(['x']), await a(b(terminal))(['x']));
});

it('compose with no filters returns the terminal itself', () => {
  assert.equal(compose([], terminal), terminal);
});

it('each filter is applied once, at compose time, not per call', async () => {
  const built: string[] = [];
  const counting =
    (name: string): Filter<Trace, Trace> =>
    (next) => {
      built.push(name);
      return next;
    };
  const handler = compose([counting('outer'), counting('inner')], terminal);
  // Built innermost first: the inner filter needs the terminal, the outer one needs the inner.
  assert.deepEqual(built, ['inner', 'outer']);
  await handler([]);
  await handler([]);
  assert.deepEqual(built, ['inner', 'outer']);
});

it('a filter may short-circuit: layers below it never run', async () => {
  let reached = false;
  const stop: Filter<Trace, Trace> = () => async () => ['stopped'];
  const spy: Filter<Trace, Trace> = (next) => async (req) => {
    reached = true;
    return next(req);
  };
  assert.deepEqual(await compose([tracing('a'), stop, spy], terminal)([]), ['stopped', '<a']);
  assert.equal(reached, false);
});
