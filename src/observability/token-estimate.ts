// Input tokens as Kthena estimates them (filters/tokenizer/estimator.go): ceil(runes / 4) of the prompt, where the
// prompt is `prompt`, or the ChatML rendering of `messages` (`<|im_start|>{role}\n{content}<|im_end|>\n` each, a
// top-level `system` first), or the Responses API's `input` (with `instructions` as a developer message).
// Used only when the upstream did not report usage.prompt_tokens. Counted without building the rendered string.

/** ChatML characters around one message: "<|im_start|>" + "\n" + "<|im_end|>" + "\n". */
const CHATML_OVERHEAD = 12 + 1 + 10 + 1;

export function estimateInputTokens(body: Readonly<Record<string, unknown>> | null): number {
  if (body === null) return 0;
  const runes = promptRunes(body);
  return runes > 0 ? Math.ceil(runes / 4) : 0;
}

function promptRunes(body: Readonly<Record<string, unknown>>): number {
  const { prompt, messages, input, system, instructions } = body;
  if (typeof prompt === 'string') return runeCount(prompt);
  if (Array.isArray(prompt)) {
    // A batch of prompts (Kthena refuses these): every string counts; token ids are exact (4 runes each).
    let runes = 0;
    for (const p of prompt as unknown[]) {
      if (typeof p === 'string') runes += runeCount(p);
      else if (typeof p === 'number') runes += 4;
      else if (Array.isArray(p)) runes += 4 * p.length;
    }
    return runes;
  }
  if (Array.isArray(messages)) {
    let runes = typeof system === 'string' ? message('system', system) : 0;
    for (const m of messages as unknown[]) runes += messageRunes(m);
    return runes;
  }
  if (typeof input === 'string' || Array.isArray(input)) {
    let runes = typeof instructions === 'string' ? message('developer', instructions) : 0;
    if (typeof input === 'string') return runes + message('user', input);
    // Responses API items are messages; embeddings take a list of strings, of token ids, or of lists of token ids.
    for (const m of input as unknown[]) {
      if (typeof m === 'string') runes += runeCount(m);
      else if (typeof m === 'number') runes += 4;
      else if (Array.isArray(m)) runes += 4 * m.length;
      else runes += messageRunes(m);
    }
    return runes;
  }
  return 0;
}

function messageRunes(m: unknown): number {
  if (typeof m !== 'object' || m === null) return 0;
  const { role, content } = m as { role?: unknown; content?: unknown };
  return CHATML_OVERHEAD + (typeof role === 'string' ? runeCount(role) : 0) + contentRunes(content);
}

function message(role: string, content: string): number {
  return CHATML_OVERHEAD + role.length + runeCount(content);
}

function contentRunes(content: unknown): number {
  if (typeof content === 'string') return runeCount(content);
  if (!Array.isArray(content)) return 0;
  let runes = 0;
  for (const part of content as unknown[]) {
    if (typeof part !== 'object' || part === null) continue;
    const { type, text } = part as { type?: unknown; text?: unknown };
    if ((type === 'text' || type === 'input_text' || type === 'output_text') && typeof text === 'string') runes += runeCount(text);
  }
  return runes;
}

/** Unicode code points (Go's utf8.RuneCountInString): a surrogate pair is one rune. */
export function runeCount(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        count--;
        i++;
      }
    }
  }
  return count;
}

export interface RequestTokens {
  readonly input: number;
  readonly output: number;
  /** Where `input` came from. */
  readonly inputSource: 'usage' | 'estimate' | 'none';
}

/** Input: the upstream's usage.prompt_tokens when reported, else the estimate. Output: usage.completion_tokens. */
export function requestTokens(usage: { promptTokens: number; completionTokens: number } | null, body: Readonly<Record<string, unknown>> | null): RequestTokens {
  if (usage !== null && usage.promptTokens > 0) return { input: usage.promptTokens, output: Math.max(0, usage.completionTokens), inputSource: 'usage' };
  const estimate = estimateInputTokens(body);
  return { input: estimate, output: Math.max(0, usage?.completionTokens ?? 0), inputSource: estimate > 0 ? 'estimate' : 'none' };
}
