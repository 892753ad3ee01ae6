// Micro-benchmark: per-request cost of authentication (API key, JWT verified before, JWT first seen) and of the
// fairness queue's uncontended admit + release.
// Run: npx node bench/auth/auth.bench.ts
import { writeFile, mkdir } from 'node:fs/promises';
import { hashApiKey, parseApiKeys } from '../../src/filters/auth/api-keys.ts';
import { RequestAuthenticator } from '../../src/filters/auth/authenticator.ts';
import { JwksStore } from '../../src/filters/auth/jwks-store.ts';
import { JwksTestServer, signingKey, signToken } from '../../src/filters/auth/jwks-test-server.ts';
import { JwtAuthenticator } from '../../src/filters/auth/jwt-authenticator.ts';
import { DEFAULT_FAIRNESS_CONFIG } from '../../src/filters/fairness/fairness-config.ts';
import { FairQueue } from '../../src/filters/fairness/fair-queue.ts';

const ROUNDS = 5;
const never = new AbortController().signal;
let sink = 0;

/** Median µs/op of a synchronous operation over ROUNDS rounds of ~200 ms. */
function measureSync(op: () => unknown): number {
  let iterations = 1000;
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS + 1; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) if (op() !== null) sink++;
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (r === 0) iterations = Math.max(1, Math.round((iterations * 200) / ms));
    else rounds.push((ms * 1000) / iterations);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(rounds.length / 2)];
}

/** µs/op of an asynchronous operation run sequentially over `inputs` (each used once). */
async function measureAsync<T>(inputs: readonly T[], op: (input: T) => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  for (const input of inputs) if ((await op(input)) !== null) sink++;
  return Number(process.hrtime.bigint() - start) / 1e3 / inputs.length;
}

const server = await JwksTestServer.start();
const rsa = await signingKey('rsa', 'RS256');
const ec = await signingKey('ec', 'ES256');
server.keys = [rsa.publicJwk, ec.publicJwk];
const keys = new JwksStore({ uri: server.uri, refreshIntervalMs: 3_600_000, minRefreshIntervalMs: 60_000 });
await keys.start();
const jwt = new JwtAuthenticator({ keys, issuer: 'https://issuer', audiences: ['sw'] });
const parsed = parseApiKeys(Array.from({ length: 1000 }, (_, i) => `- {user: u${i}, keyHash: ${hashApiKey(`sk-key-${i}`)}}`).join('\n'), 'bench');
if (!parsed.ok) throw new Error('bad keys');
const auth = new RequestAuthenticator({ jwt, apiKeys: parsed.config });

const headersFor = (credential: string): string[] => ['host', 'router', 'content-type', 'application/json', 'authorization', `Bearer ${credential}`];
const apiKeyHeaders = headersFor('sk-key-500');
const cachedToken = await signToken(rsa, { iss: 'https://issuer', aud: 'sw' });
await auth.authenticate(headersFor(cachedToken), never);
const cachedHeaders = headersFor(cachedToken);

const N = 2000;
const rsTokens = await Promise.all(Array.from({ length: N }, (_, i) => signToken(rsa, { iss: 'https://issuer', aud: 'sw', sub: `rs-${i}` })));
const esTokens = await Promise.all(Array.from({ length: N }, (_, i) => signToken(ec, { iss: 'https://issuer', aud: 'sw', sub: `es-${i}` })));

const fair = new FairQueue({ config: { ...DEFAULT_FAIRNESS_CONFIG, mode: 'fairness', maxConcurrent: 1_000_000 } });
const usage = { inputTokens: 100, outputTokens: 200 };
let userIndex = 0;

const results = {
  apiKeyUs: measureSync(() => auth.authenticate(apiKeyHeaders, never)),
  jwtCachedUs: measureSync(() => auth.authenticate(cachedHeaders, never)),
  jwtFirstRs256Us: await measureAsync(rsTokens, (token) => auth.authenticate(headersFor(token), never)),
  jwtFirstEs256Us: await measureAsync(esTokens, (token) => auth.authenticate(headersFor(token), never)),
  fairAdmitReleaseUs: measureSync(() => {
    const ticket = fair.admit({ model: 'm', user: `u${userIndex++ % 100}`, sessionKey: null }, never);
    if ('release' in ticket) ticket.release(usage);
    return ticket;
  }),
};
keys.close();
await server.close();

console.log('per request, µs (median of rounds; first-seen JWTs: mean over 2,000 distinct tokens)');
for (const [name, value] of Object.entries(results)) console.log(`  ${name.padEnd(20)} ${value.toFixed(2)}`);
await mkdir(new URL('../results/', import.meta.url), { recursive: true });
await writeFile(new URL('../results/auth.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), node: process.version, results, sink }, null, 2));
