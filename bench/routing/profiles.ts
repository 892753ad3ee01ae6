// The scheduler configurations `npm run bench:routing` compares, as Kthena router configuration files
// (--router-config). The first four are the ones the benchmark runs by default; the others are candidates kept
// for exploration (`--configs name,name`).
//
// "switchyard-best" is the profile chosen for this workload (long per-application system prompts, engines whose KV
// cache holds about a third of them), after trying the candidates below on two seeds:
//  - prefix-cache at weight 2 against least-request at 1: a pod that holds the prompt's prefix wins even when it has
//    a short queue (least-request scores any queue near 0, so at weight 1 affinity gives way as soon as the holder
//    queues, and the prefix is then spread to every pod, which the KV caches cannot hold);
//  - the router's per-pod prefix LRU sized to what an engine's KV cache holds, instead of Kthena's 50,000 hashes:
//    otherwise the router keeps sending a prefix to pods that evicted it long ago (and every pod that ever served a
//    prefix looks like a holder forever);
//  - the whole prompt hashed (1,024 blocks of 64 characters) instead of Kthena's first 8 KB, so a conversation's
//    later turns prefer the pod that holds its history too, and the LRU counts prompts in proportion to their size;
//  - gpu-usage and least-latency dropped: KV usage and last-second latency averages mostly reflect which pod holds
//    the hot prefixes, and at weight 1 each they pull requests away from them;
//  - lora-affinity kept as a filter (a no-op here: every engine lists every adapter), least-request's filter kept.
// Kthena's chart is run as it ships (Switchyard's plugin implementations, which differ from Kthena's where Kthena
// is known to be wrong: see the README).
import type { FleetEngineSettings } from './fleet-settings.ts';

export interface Profile {
  readonly name: string;
  description(fleet: FleetEngineSettings): string;
  /** The router configuration file's text. */
  yaml(fleet: FleetEngineSettings): string;
  /** The engines publish KV events (and the Pod stubs name their ports). */
  readonly kvEvents?: boolean;
}

/** Kthena's Helm chart configuration (charts/.../configmap.yaml), verbatim in substance. */
const KTHENA_CHART = `scheduler:
  pluginConfig:
  - name: least-request
    args: {maxWaitingRequests: 10}
  - name: least-latency
    args: {TTFTTPOTWeightFactor: 0.5}
  - name: prefix-cache
    args: {blockSizeToHash: 64, maxBlocksToMatch: 128, maxHashCacheSize: 50000, topKMatches: 5}
  plugins:
    Filter:
      enabled: [least-request]
      disabled: [lora-affinity]
    Score:
      enabled:
      - {name: least-request, weight: 1}
      - {name: gpu-usage, weight: 1}
      - {name: least-latency, weight: 1}
      - {name: prefix-cache, weight: 1}
`;

/**
 * The router's per-pod prefix LRU (maxHashCacheSize, in blocks of `blockSizeToHash` characters) sized to what an
 * engine's KV cache holds: kvBlocks × blockSize tokens at ~charsPerToken characters each. Kthena's 50,000 is far
 * larger than what the engines keep, so the router keeps believing a pod holds prefixes it evicted long ago.
 */
export function kvSizedHashCache(fleet: FleetEngineSettings, blockSizeToHash: number): number {
  return Math.max(64, Math.round((fleet.kvBlocks * fleet.blockSize * fleet.charsPerToken) / blockSizeToHash));
}

interface BestVariant {
  readonly prefixWeight: number;
  readonly maxBlocksToMatch: number;
  /** null: sized to the engine's KV cache. */
  readonly maxHashCacheSize: number | null;
}

function bestYaml(variant: BestVariant): (fleet: FleetEngineSettings) => string {
  return (fleet) => `scheduler:
  pluginConfig:
  - name: least-request
    args: {maxWaitingRequests: 10}
  - name: prefix-cache
    args: {blockSizeToHash: 64, maxBlocksToMatch: ${variant.maxBlocksToMatch}, maxHashCacheSize: ${variant.maxHashCacheSize ?? kvSizedHashCache(fleet, 64)}, topKMatches: 5}
  plugins:
    Filter:
      enabled: [lora-affinity, least-request]
    Score:
      enabled:
      - {name: prefix-cache, weight: ${variant.prefixWeight}}
      - {name: least-request, weight: 1}
`;
}

export const PROFILES: readonly Profile[] = [
  {
    name: 'random',
    description: () => 'score random only, no filter',
    yaml: () => 'scheduler:\n  plugins:\n    Filter:\n      enabled: []\n    Score:\n      enabled:\n      - {name: random, weight: 1}\n',
  },
  {
    name: 'least-request',
    description: () => 'score least-request only, no filter',
    yaml: () => 'scheduler:\n  plugins:\n    Filter:\n      enabled: []\n    Score:\n      enabled:\n      - {name: least-request, weight: 1}\n',
  },
  {
    name: 'kthena-default',
    description: () => "Kthena's Helm chart: filter least-request (10); scores least-request, gpu-usage, least-latency, prefix-cache (64 B x 128, LRU 50000/pod), weight 1 each",
    yaml: () => KTHENA_CHART,
  },
  {
    name: 'switchyard-best',
    description: (fleet) =>
      'filters lora-affinity, least-request (10); scores prefix-cache x2 (whole prompt: 64 B x 1024 blocks; per-pod LRU of ' +
      `${kvSizedHashCache(fleet, 64)} hashes, the engine's KV capacity) + least-request x1`,
    yaml: bestYaml({ prefixWeight: 2, maxBlocksToMatch: 1024, maxHashCacheSize: null }),
  },
  {
    name: 'kvcache-aware',
    kvEvents: true,
    description: () =>
      "filters lora-affinity, least-request (10); scores kvcache-aware x2 (the engines' KV events; prompts tokenized by the engines' /tokenize; " +
      'whole prompt: up to 512 blocks) + least-request x1',
    yaml: () => `scheduler:
  pluginConfig:
  - name: least-request
    args: {maxWaitingRequests: 10}
  - name: kvcache-aware
    args: {blockSizeToHash: 16, maxBlocksToMatch: 512}
  plugins:
    Filter:
      enabled: [lora-affinity, least-request]
    Score:
      enabled:
      - {name: kvcache-aware, weight: 2}
      - {name: least-request, weight: 1}
`,
  },
  {
    name: 'kvcache-lora',
    kvEvents: true,
    description: () => 'kvcache-aware plus lora-residency x1 (a LoRA request prefers the pods that hold its adapter now)',
    yaml: () => `scheduler:
  pluginConfig:
  - name: least-request
    args: {maxWaitingRequests: 10}
  - name: kvcache-aware
    args: {blockSizeToHash: 16, maxBlocksToMatch: 512}
  plugins:
    Filter:
      enabled: [lora-affinity, least-request]
    Score:
      enabled:
      - {name: kvcache-aware, weight: 2}
      - {name: lora-residency, weight: 1}
      - {name: least-request, weight: 1}
`,
  },
  {
    name: 'kvcache-prefix',
    kvEvents: true,
    description: (fleet) =>
      'switchyard-best plus kvcache-aware x2 (16 x 512 blocks): where pods publish KV events they decide, elsewhere prefix-cache does ' +
      `(LRU ${kvSizedHashCache(fleet, 64)} hashes)`,
    yaml: (fleet) => `scheduler:
  pluginConfig:
  - name: least-request
    args: {maxWaitingRequests: 10}
  - name: kvcache-aware
    args: {blockSizeToHash: 16, maxBlocksToMatch: 512}
  - name: prefix-cache
    args: {blockSizeToHash: 64, maxBlocksToMatch: 1024, maxHashCacheSize: ${kvSizedHashCache(fleet, 64)}, topKMatches: 5}
  plugins:
    Filter:
      enabled: [lora-affinity, least-request]
    Score:
      enabled:
      - {name: kvcache-aware, weight: 2}
      - {name: prefix-cache, weight: 2}
      - {name: least-request, weight: 1}
`,
  },
  // Candidates, for exploration.
  {
    name: 'kvcache-kthena',
    kvEvents: true,
    description: () => "Kthena's documented kvcache-aware configuration: filter least-request (10); scores least-request x1, kvcache-aware x1 (16 x 128 blocks)",
    yaml: () => `scheduler:
  pluginConfig:
  - name: least-request
    args: {maxWaitingRequests: 10}
  - name: kvcache-aware
    args: {blockSizeToHash: 16, maxBlocksToMatch: 128}
  plugins:
    Filter:
      enabled: [least-request]
    Score:
      enabled:
      - {name: least-request, weight: 1}
      - {name: kvcache-aware, weight: 1}
`,
  },
  {
    name: 'switchyard-default',
    kvEvents: true,
    description: () => 'Switchyard without a router config (kvcache-aware x2, prefix-cache x2, lora-residency x3, least-request), engines publishing KV events',
    yaml: () => 'scheduler: {}\n',
  },
  {
    name: 'default-lr-half',
    kvEvents: true,
    description: () => 'the defaults with least-request at half their relative weight (kvcache-aware x4, prefix-cache x4, lora-residency x6, least-request x1): more cache, less balance',
    yaml: () => `scheduler:
  pluginConfig:
  - name: kvcache-aware
    args: {maxBlocksToMatch: 512}
  - name: prefix-cache
    args: {maxBlocksToMatch: 1024}
  plugins:
    Filter:
      enabled: [lora-affinity, least-request]
    Score:
      enabled:
      - {name: kvcache-aware, weight: 4}
      - {name: prefix-cache, weight: 4}
      - {name: lora-residency, weight: 6}
      - {name: least-request, weight: 1}
`,
  },
  {
    name: 'no-bound',
    kvEvents: true,
    description: () => 'the defaults without the load bound',
    yaml: () => 'scheduler:\n  loadBound: false\n',
  },
  {
    name: 'switchyard-default-no-events',
    description: () => 'Switchyard without a router config, engines without KV events (kvcache-aware silent: prefix-cache x2 + lora-residency x3 + least-request)',
    yaml: () => 'scheduler: {}\n',
  },
  {
    name: 'best-w1',
    description: () => 'switchyard-best with prefix-cache weight 1',
    yaml: bestYaml({ prefixWeight: 1, maxBlocksToMatch: 1024, maxHashCacheSize: null }),
  },
  {
    name: 'best-128',
    description: () => "switchyard-best hashing only Kthena's first 128 blocks (8 KB) of the prompt",
    yaml: bestYaml({ prefixWeight: 2, maxBlocksToMatch: 128, maxHashCacheSize: null }),
  },
  {
    name: 'best-lru50k',
    description: () => "switchyard-best with Kthena's prefix LRU of 50000 hashes per pod",
    yaml: bestYaml({ prefixWeight: 2, maxBlocksToMatch: 1024, maxHashCacheSize: 50_000 }),
  },
  {
    name: 'session-affinity',
    description: () => 'session-affinity x10 on x-session-id (conversation) + least-request + prefix-cache',
    yaml: () => `scheduler:
  pluginConfig:
  - name: session-affinity
    args: {headerName: x-session-id, loadFactor: 1.25}
  plugins:
    Filter:
      enabled: [lora-affinity, least-request]
    Score:
      enabled:
      - {name: session-affinity, weight: 10}
      - {name: prefix-cache, weight: 1}
      - {name: least-request, weight: 1}
`,
  },
];

export function profileByName(name: string): Profile {
  const profile = PROFILES.find((p) => p.name === name);
  if (profile === undefined) throw new Error(`unknown configuration "${name}"; known: ${PROFILES.map((p) => p.name).join(', ')}`);
  return profile;
}
