/* global process, URL, console */
// dist/: the router compiled to JavaScript, and the fingerprint of what it was compiled from (every TypeScript source
// of src/ except tests, and the compiler configuration) in dist/SOURCES. bin/switchyard.js runs dist/ only when that
// fingerprint matches the sources on disk, so a stale build is never served: after any edit the sources run (type
// stripping) until the next build.
//
// Run as a script, builds: `node bin/build-stamp.js` (npm run build) removes dist/, compiles with
// tsconfig.build.json and writes the stamp; exit 1 when tsc fails. With --optional (the prepare script, run by
// `npm ci`) a failed build only warns: the router then runs from the sources.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, 'SOURCES');

export function sourceFingerprint() {
  const hash = createHash('sha256');
  const files = readdirSync(join(ROOT, 'src'), { recursive: true })
    .map(String)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .sort();
  for (const file of [...files.map((f) => join('src', f)), 'tsconfig.json', 'tsconfig.build.json']) {
    hash.update(`${file}\0`).update(readFileSync(join(ROOT, file))).update('\0');
  }
  return hash.digest('hex');
}

/** True when dist/ was compiled from the sources as they are now. */
export function distIsCurrent() {
  let stamp;
  try {
    stamp = readFileSync(STAMP, 'utf8').trim();
  } catch {
    return false;
  }
  return stamp === sourceFingerprint();
}

function build(optional) {
  rmSync(DIST, { recursive: true, force: true });
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    tsc = null;
  }
  const result = tsc === null ? null : spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (result === null || result.status !== 0) {
    rmSync(DIST, { recursive: true, force: true });
    const why = result === null ? 'typescript is not installed' : 'tsc failed';
    if (!optional) {
      console.error(`build failed: ${why}`);
      process.exit(1);
    }
    console.warn(`switchyard: no compiled build (${why}); the TypeScript sources will run`);
    return;
  }
  writeFileSync(STAMP, `${sourceFingerprint()}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) build(process.argv.includes('--optional'));
