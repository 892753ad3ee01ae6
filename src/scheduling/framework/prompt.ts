// The prompt text a request carries, for prefix matching: `prompt` for completions, ChatML for chat `messages`
// (after the Messages API's top-level `system`, which the engine renders first), and for the Responses API its
// `instructions` and `input` (`input` elsewhere, e.g. embeddings, is not a prompt an engine caches).
// Only the first `maxChars` characters are ever needed, so rendering stops there.

const RESPONSES_PATH = '/v1/responses';

/** `<|im_start|>{role}\n{content}<|im_end|>\n` per message; content is a string or a list of text parts. */
export function renderPrompt(body: unknown, maxChars: number, path = ''): string {
  if (typeof body !== 'object' || body === null || maxChars <= 0) return '';
  const { prompt, messages, system, input, instructions } = body as { prompt?: unknown; messages?: unknown; system?: unknown; input?: unknown; instructions?: unknown };
  if (typeof prompt === 'string') return prompt.length > maxChars ? prompt.slice(0, maxChars) : prompt;
  if (Array.isArray(prompt)) {
    // A batch of prompts: the first one's prefix is the one a cache can hold.
    const first: unknown = prompt[0];
    return typeof first === 'string' ? first.slice(0, maxChars) : '';
  }
  let turns: unknown = messages;
  let out = '';
  if (Array.isArray(messages)) {
    if (system !== undefined && system !== null) out = turn('system', system);
  } else if (path === RESPONSES_PATH) {
    if (typeof instructions === 'string') out = turn('system', instructions);
    if (typeof input === 'string') return clip(out + turn('user', input), maxChars);
    turns = input;
  }
  if (!Array.isArray(turns)) return clip(out, maxChars);
  for (const message of turns as unknown[]) {
    if (out.length >= maxChars) break;
    if (typeof message !== 'object' || message === null) continue;
    const { role, content } = message as { role?: unknown; content?: unknown };
    out += turn(typeof role === 'string' ? role : '', content);
  }
  return clip(out, maxChars);
}

function turn(role: string, content: unknown): string {
  return `<|im_start|>${role}\n${contentText(content)}<|im_end|>\n`;
}

function clip(text: string, maxChars: number): string {
  return text.length > maxChars ? text.slice(0, maxChars) : text;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content as unknown[]) {
    if (typeof part !== 'object' || part === null) continue;
    const { type, text: partText } = part as { type?: unknown; text?: unknown };
    // Chat and Messages parts are `text`; the Responses API's are `input_text` and `output_text`.
    if ((type === 'text' || type === 'input_text' || type === 'output_text') && typeof partText === 'string') text += partText;
  }
  return text;
}
