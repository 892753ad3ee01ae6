// Records the facts of Kthena's own CRDs (field paths, types, required, enums, patterns, defaults, bounds,
// x-kubernetes-* markers, names, scope, subresources, printer columns) as our test data,
// test/kube/kthena-crd-facts.jsonl, which test/kthena-crd-compat.test.ts checks deploy/crds/ against.
//
// Kthena's CRD files cannot be fetched on CI (`go mod download github.com/volcano-sh/kthena@v0.3.0` answers 403
// "This module version is not available"), and none of Kthena's files is committed here. This script was run once,
// by hand, against a read-only mirror of github.com/volcano-sh/kthena:
//   node test/kube/kthena-crd-facts.ts /path/to/kthena.git [commit]
// It reads charts/kthena/charts/networking/crds/networking.serving.volcano.sh_*.yaml at that commit with `git show`.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { crdFacts, formatFacts } from '../support/crd-facts.ts';

const PLURALS = ['modelroutes', 'modelservers', 'externalmodelproviders'];
const CRD_DIR = 'charts/kthena/charts/networking/crds';

const [repo, ref = 'HEAD'] = process.argv.slice(2);
if (repo === undefined) {
  process.stderr.write('usage: node test/kube/kthena-crd-facts.ts KTHENA_GIT_DIR [COMMIT]\n');
  process.exit(2);
}
const git = (...args: string[]): string => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
const commit = git('rev-parse', ref).trim();
const rows = PLURALS.flatMap((plural) => crdFacts(parse(git('show', `${commit}:${CRD_DIR}/networking.serving.volcano.sh_${plural}.yaml`)) as Record<string, unknown>));
const header = `# Facts of Kthena's CRDs (github.com/volcano-sh/kthena ${commit}, ${CRD_DIR}/), written by test/kube/kthena-crd-facts.ts.\n`;
writeFileSync(new URL('kthena-crd-facts.jsonl', import.meta.url), header + formatFacts(rows));
process.stdout.write(`${rows.length} rows from ${commit}\n`);
