// The Gateway API Inference Extension's canonical `shared_prefix` workloads (inference-perf's shared-prefix data
// generator: `num_groups` system prompts of `system_prompt_len` tokens, `num_prompts_per_group` single-turn questions
// of `question_len` tokens each), scaled to this machine's simulated fleet and expressed as a WorkloadSpec: one turn
// per conversation, each arrival a fresh question on a uniformly chosen group (so each group gets its share of the
// prompts on average rather than exactly), no LoRA.
//
//   shape  canonical                                       here
//   A      6 groups x 1,000 prompts, 1,000 + 30 tokens     6 groups, 600 prompts in all, 1,000 + 30 tokens
//   C      150 groups x 5 prompts, 6,000 + 1,200 tokens    150 groups, 750 prompts in all, 1,500 + 300 tokens
//
// A keeps its lengths (the six prefixes fit in every engine's KV cache many times over) and sends a tenth of the
// prompts. C's lengths are divided by 4 so one request's prefill takes ~270 ms here instead of ~1.1 s, which keeps
// its character: the 150 prefixes (225,000 tokens) are ~1.8x what the whole fleet's KV caches hold (6 x 20,480).
// Outputs are 16-64 tokens (the canonical runs' output lengths would only lengthen decode, which no router changes).
// `hot-prefix` is not one of the canonical shapes: shape A with a single group, i.e. one application whose every
// request starts with the same system prompt, the common production case, where following the prefix alone would
// put the whole load on one engine.
import type { WorkloadSpec } from './workload.ts';

export const SHARED_PREFIX_SHAPES = ['shared-prefix-a', 'shared-prefix-c', 'hot-prefix'] as const;
export type SharedPrefixShape = (typeof SHARED_PREFIX_SHAPES)[number];

const SHAPES: Readonly<Record<SharedPrefixShape, { groups: number; prompts: number; systemTokens: number; questionTokens: number }>> = {
  'shared-prefix-a': { groups: 6, prompts: 600, systemTokens: 1000, questionTokens: 30 },
  'shared-prefix-c': { groups: 150, prompts: 750, systemTokens: 1500, questionTokens: 300 },
  'hot-prefix': { groups: 1, prompts: 600, systemTokens: 1000, questionTokens: 30 },
};

/** The spec of a shape at `rate` requests/s; the arrival window is prompts / rate unless `durationS` is given. */
export function sharedPrefixSpec(shape: SharedPrefixShape, options: { seed: number; model: string; rate: number; durationS?: number }): WorkloadSpec {
  const s = SHAPES[shape];
  return {
    seed: options.seed,
    durationS: options.durationS ?? s.prompts / options.rate,
    rate: options.rate,
    groups: s.groups,
    systemTokens: [s.systemTokens, s.systemTokens],
    questionTokens: [s.questionTokens, s.questionTokens],
    historyAnswerTokens: [0, 0],
    outputTokens: [16, 64],
    turns: [1, 1],
    openConversations: 0,
    minTurnGapS: 0,
    loraShare: 0,
    adapters: [],
    model: options.model,
  };
}
