// `npm run build`, after tsc: copy the dashboard's static files (HTML, CSS,
// browser JS) next to the compiled control plane, where it serves them from.
import { cpSync } from 'node:fs';
import { fileURLToPath, URL } from 'node:url';


const from = fileURLToPath(new URL('../src/control-plane/dashboard/static/', import.meta.url));
const to = fileURLToPath(new URL('../build/src/control-plane/dashboard/static/', import.meta.url));
cpSync(from, to, { recursive: true });
