// Cost of one route-regex test (re2js, Go semantics) against V8's RegExp on the same patterns and header values.
// Run: node bench/micro/regex.bench.ts
import { compileMatchRegex } from '../../src/resources/regex.ts';

const CASES: [string, string][] = [
  ['^on', 'on'],
  ['^(gold|silver)-[0-9]+$', 'silver-1234'],
  ['premium', 'x-user-premium-tier-account-0001'],
  ['^/v1/(chat/)?completions$', '/v1/chat/completions'],
];
const ROUNDS = 200_000;

function nsPerTest(test: (value: string) => boolean, value: string): number {
  let hits = 0;
  for (let i = 0; i < 10_000; i++) if (test(value)) hits++; // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) if (test(value)) hits++;
  const ns = Number(process.hrtime.bigint() - start) / ROUNDS;
  if (hits === 0) throw new Error('no match');
  return ns;
}

for (const [pattern, value] of CASES) {
  const re2 = compileMatchRegex(pattern);
  if (!re2.ok) throw new Error(re2.error);
  const v8 = new RegExp(pattern);
  const re2Ns = nsPerTest(re2.test, value);
  const v8Ns = nsPerTest((s) => v8.test(s), value);
  console.log(`${pattern.padEnd(30)} re2js ${re2Ns.toFixed(0).padStart(6)} ns   V8 ${v8Ns.toFixed(0).padStart(5)} ns`);
}
