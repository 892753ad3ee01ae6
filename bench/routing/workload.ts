// The workload of `npm run bench:routing`, in the spirit of SGLang's generated-shared-prefix benchmark
// (bench_serving.py --dataset-name generated-shared-prefix): `groups` applications, each with a long system prompt
// of its own, and many multi-turn conversations per application, the applications equally popular. A share of the
// applications (`loraShare`, rounded) runs on a LoRA adapter, the adapters assigned to them in turn, so about that
// share of the requests are LoRA requests, over several adapters. Everything is generated up front from the seed,
// request bodies included, so two runs with the same seed send byte-identical requests at the same offsets.
//
// Arrivals are open-loop: a Poisson process of `rate` requests per second over `durationS` seconds. Each arrival
// continues one of the open conversations (chosen at random among those whose previous turn was sent at least
// `minTurnGapS` earlier) or, while fewer than `openConversations` are open (or none is eligible), starts a new one.
// Turn k of a conversation sends the system prompt, the k−1 earlier questions each followed by an answer, and the
// k-th question, so every turn's prompt extends the previous one. The answers in the history are synthetic (drawn
// from the seed, not the engine's output), which keeps the requests independent of the responses and of timing;
// the engine's cache then reuses the previous turn's prompt, not its generated tokens.
//
// The mock engines count a token per word (plus 4 template tokens per chat message), so the token counts below are
// what the engines' prefix caches and batch simulators see.

export interface WorkloadSpec {
  readonly seed: number;
  /** Arrival window, seconds. */
  readonly durationS: number;
  /** Mean arrival rate, requests per second. */
  readonly rate: number;
  /** Applications, each with its own system prompt. */
  readonly groups: number;
  /** System prompt length in tokens, drawn uniformly per group. */
  readonly systemTokens: readonly [number, number];
  readonly questionTokens: readonly [number, number];
  /** Length of the synthetic assistant answers kept in the history. */
  readonly historyAnswerTokens: readonly [number, number];
  /** max_tokens of each request (the mock's random mode answers exactly that many tokens). */
  readonly outputTokens: readonly [number, number];
  readonly turns: readonly [number, number];
  readonly openConversations: number;
  readonly minTurnGapS: number;
  /** Fraction of the applications (groups) that use a LoRA adapter. */
  readonly loraShare: number;
  readonly adapters: readonly string[];
  /** The route's model name (requests without an adapter). */
  readonly model: string;
}

export interface WorkloadRequest {
  readonly index: number;
  /** Offset of the arrival from the start of the run, ms. */
  readonly atMs: number;
  readonly conversation: number;
  /** 1-based. */
  readonly turn: number;
  readonly group: number;
  readonly adapter: string | null;
  /** The JSON body, ready to send. */
  readonly body: string;
  readonly maxTokens: number;
  /** Prompt tokens as the mock engines count them. */
  readonly promptTokens: number;
}

export interface Workload {
  readonly spec: WorkloadSpec;
  readonly requests: readonly WorkloadRequest[];
  readonly conversations: number;
  readonly loraConversations: number;
  /** Total size of the system prompts, tokens. */
  readonly systemPromptTokens: number;
  readonly meanPromptTokens: number;
  readonly meanOutputTokens: number;
}

/** mulberry32: a small seeded PRNG, the same sequence on every run. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VOCABULARY = (
  'the a of to and in is it for on with as that this be by at from or an are was not which but have all can will one ' +
  'router engine cache prefix token batch queue request model adapter latency throughput memory block schedule pod ' +
  'server client stream answer question order account invoice payment refund shipping delivery product customer ' +
  'support ticket policy return warranty discount coupon price stock item cart checkout address email phone ' +
  'password login profile setting language region currency tax receipt balance transfer card bank loan rate term ' +
  'contract clause party notice liability damage claim report summary detail history record patient symptom dose ' +
  'treatment appointment doctor clinic insurance coverage plan benefit premium deductible network provider code ' +
  'function variable method class module package library test build deploy release version branch commit merge ' +
  'review comment issue bug fix feature design document table column index query join filter group sort limit'
).split(' ');

function uniformInt(random: () => number, [min, max]: readonly [number, number]): number {
  return min + Math.floor(random() * (max - min + 1));
}

function words(random: () => number, count: number): string {
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = VOCABULARY[Math.floor(random() * VOCABULARY.length)];
  return out.join(' ');
}

/** Tokens of a text as the mock engines count them: one per whitespace-separated word. */
function tokenCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

interface Conversation {
  readonly id: number;
  readonly group: number;
  readonly turns: number;
  readonly questions: string[];
  readonly answers: string[];
  sent: number;
  lastAtMs: number;
}

export function generateWorkload(spec: WorkloadSpec): Workload {
  const random = seeded(spec.seed);
  // Each application's system prompt starts with its own header, so prompts differ from their first characters.
  const systemPrompts = Array.from({ length: spec.groups }, (_, g) => {
    const header = `[app-${String(g).padStart(3, '0')}] You are the assistant of application ${g}. Follow these instructions.`;
    return `${header} ${words(random, Math.max(1, uniformInt(random, spec.systemTokens) - tokenCount(header)))}`;
  });

  // The last round(loraShare × groups) applications run on adapters, assigned in turn.
  const loraGroups = spec.adapters.length > 0 ? Math.round(spec.loraShare * spec.groups) : 0;
  const adapterOf = (group: number): string | null => {
    const k = group - (spec.groups - loraGroups);
    return k >= 0 ? spec.adapters[k % spec.adapters.length] : null;
  };

  const conversations: Conversation[] = [];
  const open: Conversation[] = [];
  const requests: WorkloadRequest[] = [];

  const startConversation = (): Conversation => {
    const turns = uniformInt(random, spec.turns);
    const conversation: Conversation = {
      id: conversations.length,
      group: Math.floor(random() * spec.groups),
      turns,
      questions: Array.from({ length: turns }, (_, t) => `Question ${t + 1}: ${words(random, uniformInt(random, spec.questionTokens))}?`),
      answers: Array.from({ length: turns }, () => words(random, uniformInt(random, spec.historyAnswerTokens))),
      sent: 0,
      lastAtMs: -Infinity,
    };
    conversations.push(conversation);
    open.push(conversation);
    return conversation;
  };

  let atMs = 0;
  const windowMs = spec.durationS * 1000;
  while (true) {
    atMs += (-Math.log(1 - random()) / spec.rate) * 1000;
    if (atMs >= windowMs) break;
    const eligible = open.filter((c) => c.lastAtMs <= atMs - spec.minTurnGapS * 1000);
    const conversation = open.length < spec.openConversations || eligible.length === 0
      ? startConversation()
      : eligible[Math.floor(random() * eligible.length)];
    const turn = ++conversation.sent;
    conversation.lastAtMs = atMs;
    if (conversation.sent >= conversation.turns) open.splice(open.indexOf(conversation), 1);

    const messages: { role: string; content: string }[] = [{ role: 'system', content: systemPrompts[conversation.group] }];
    for (let t = 0; t < turn; t++) {
      messages.push({ role: 'user', content: conversation.questions[t] });
      if (t < turn - 1) messages.push({ role: 'assistant', content: conversation.answers[t] });
    }
    const maxTokens = uniformInt(random, spec.outputTokens);
    const adapter = adapterOf(conversation.group);
    requests.push({
      index: requests.length,
      atMs,
      conversation: conversation.id,
      turn,
      group: conversation.group,
      adapter,
      body: JSON.stringify({ model: adapter ?? spec.model, messages, max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } }),
      maxTokens,
      promptTokens: messages.reduce((sum, m) => sum + 4 + tokenCount(m.content), 0),
    });
  }

  const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return {
    spec,
    requests,
    conversations: conversations.length,
    loraConversations: conversations.filter((c) => adapterOf(c.group) !== null).length,
    systemPromptTokens: systemPrompts.reduce((sum, p) => sum + tokenCount(p), 0),
    meanPromptTokens: mean(requests.map((r) => r.promptTokens)),
    meanOutputTokens: mean(requests.map((r) => r.maxTokens)),
  };
}
