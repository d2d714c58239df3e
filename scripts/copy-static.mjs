// `npm run build`, after tsc: copy the dashboard's static files (HTML, CSS,
// browser JS) next to the compiled control plane, where it serves them from,
// and cytoscape's browser build into them. cytoscape is a devDependency: the
// package ships this copy, so a service's install never brings the library
// (docs/architecture.md, "Packaging").
import { cpSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, URL } from 'node:url';

const from = fileURLToPath(new URL('../src/control-plane/dashboard/static/', import.meta.url));
const to = fileURLToPath(new URL('../build/src/control-plane/dashboard/static/', import.meta.url));
cpSync(from, to, { recursive: true });

// The minified build keeps cytoscape's MIT notice at its top, as its licence asks.
const require = createRequire(import.meta.url);
mkdirSync(`${to}vendor`, { recursive: true });
cpSync(require.resolve('cytoscape/dist/cytoscape.min.js'), `${to}vendor/cytoscape.min.js`);
