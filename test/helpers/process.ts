// One implementation of child-process handling, shared with the demo.
export * from '../../examples/lib/child.js';
