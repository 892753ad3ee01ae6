#!/usr/bin/env node
/* global process */
// Entry point for `npx switchyard`. Node >= 22.18 runs the TypeScript sources directly (type stripping);
// npm scripts and npx use the Node 24 pinned in devDependencies.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `switchyard needs Node.js >= 22.18 (found ${process.version}). Run it through npm or npx in this repository, which use the pinned Node 24.\n`,
  );
  process.exit(1);
}
await import('../src/cli/main.ts');
