// `npm run build`, after tsc: the mesh gateway's native relay (native/tcp-relay.c) into
// build/native/tcp-relay.node, with the machine's C compiler ($CC, else cc) against Node-API's
// headers (the devDependency node-api-headers: Node-API is stable across Node lines, so one build
// loads on 20, 22 and 24). The package ships the built file, so a service's install compiles nothing.
// Linux only (epoll); elsewhere the gateway relays in Node, and this step says so and skips.
//   HYPHAE_SKIP_NATIVE=1   build without it (the gateway then relays in Node, and says why at start)
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import { mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const source = fileURLToPath(new URL('../native/tcp-relay.c', import.meta.url));
const outDir = fileURLToPath(new URL('../build/native/', import.meta.url));
const out = `${outDir}tcp-relay.node`;

if (process.platform !== 'linux' || process.env.HYPHAE_SKIP_NATIVE === '1') {
  console.log(`build-native: skipped (${process.platform !== 'linux' ? `Linux only, this is ${process.platform}` : 'HYPHAE_SKIP_NATIVE=1'}): the mesh gateway relays in Node`);
  process.exit(0);
}
const mtime = (f) => {
  try {
    return statSync(f).mtimeMs;
  } catch {
    return -1;
  }
};
if (mtime(out) > mtime(source)) process.exit(0);

const include = createRequire(import.meta.url)('node-api-headers').include_dir;
const cc = process.env.CC || 'cc';
mkdirSync(outDir, { recursive: true });
const args = ['-O2', '-fPIC', '-shared', '-pthread', '-Wall', '-Wextra', '-DNODE_GYP_MODULE_NAME=tcp_relay', '-I', include, source, '-o', out];
const r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.error || r.status !== 0) {
  const why = r.error ? `${cc}: ${r.error.message}` : `${cc} exited with ${r.status}`;
  console.error(`build-native: could not build the native relay (${why}). Install a C compiler (Debian: gcc), or set HYPHAE_SKIP_NATIVE=1 to build without it (the mesh gateway then relays in Node).`);
  process.exit(1);
}
