#!/usr/bin/env -S node --max-semi-space-size=8
/* global process, setInterval, clearInterval */
// Entry point for `npx switchyard`. npm scripts and npx use the Node 24 pinned in devDependencies.
// --max-semi-space-size=8 caps V8's young generation (by default it grows to tens of MB under load, which the router
// does not need: peak RSS ~150 MB instead of ~240 MB at the same CPU; see bench/README.md). It only applies where
// this file starts the process (npx switchyard, bin/switchyard.js, the npm scripts); `node bin/switchyard.js` without
// the flag runs the same router with V8's default sizes.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `switchyard needs Node.js >= 22.18 (found ${process.version}). Run it through npm or npx in this repository, which use the pinned Node 24.\n`,
  );
  process.exit(1);
}
// Started by npm (`npm start`, `npm run demo`, `npx switchyard`): npm passes SIGTERM/SIGINT to the shell it spawned,
// and a shell that did not exec this command dies of the signal without passing it on, leaving the router running,
// re-parented, never draining. The npm scripts exec node; for the rest, losing the parent counts as SIGTERM.
if (process.env.npm_lifecycle_event !== undefined && process.platform !== 'win32') {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, 'SIGTERM');
  }, 500);
  watch.unref();
}
// The compiled JavaScript in dist/ (`npm run build`, run by `npm ci`) when it was built from exactly these sources:
// it starts faster and takes ~30 MB less memory than type-stripping the TypeScript sources, which run otherwise.
const { distIsCurrent } = await import('./build-stamp.js');
await import(distIsCurrent() ? '../dist/cli/main.js' : '../src/cli/main.ts');
