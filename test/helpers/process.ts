// One implementation of child-process handling, shared with the demo.
import { after } from 'node:test';
import { killAllChildren } from '../../examples/lib/child.js';

export * from '../../examples/lib/child.js';

// A test that fails before its cleanup (a Promise.all of starts where one timed out, an assertion before a
// kill) can leave a child whose pipes keep this test file's process, and so the whole run, alive for ever.
// Once the file's tests are done, an unref'd timer kills what is left: it never delays a file that cleaned
// up (nothing keeps the process alive then), and gives the file's own after() hooks a minute to stop theirs
// gracefully.
after(() => {
  setTimeout(killAllChildren, 60_000).unref();
});
