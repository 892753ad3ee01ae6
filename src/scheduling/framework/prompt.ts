// The prompt text a request carries, for prefix matching: `prompt` for completions, ChatML for chat `messages`.
// Only the first `maxChars` characters are ever needed, so rendering stops there.

/** `<|im_start|>{role}\n{content}<|im_end|>\n` per message; content is a string or a list of text parts. */
export function renderPrompt(body: unknown, maxChars: number): string {
  if (typeof body !== 'object' || body === null || maxChars <= 0) return '';
  const { prompt, messages } = body as { prompt?: unknown; messages?: unknown };
  if (typeof prompt === 'string') return prompt.length > maxChars ? prompt.slice(0, maxChars) : prompt;
  if (Array.isArray(prompt)) {
    // A batch of prompts: the first one's prefix is the one a cache can hold.
    const first: unknown = prompt[0];
    return typeof first === 'string' ? first.slice(0, maxChars) : '';
  }
  if (!Array.isArray(messages)) return '';
  let out = '';
  for (const message of messages as unknown[]) {
    if (typeof message !== 'object' || message === null) continue;
    const { role, content } = message as { role?: unknown; content?: unknown };
    out += `<|im_start|>${typeof role === 'string' ? role : ''}\n${contentText(content)}<|im_end|>\n`;
    if (out.length >= maxChars) return out.slice(0, maxChars);
  }
  return out;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content as unknown[]) {
    if (typeof part !== 'object' || part === null) continue;
    const { type, text: partText } = part as { type?: unknown; text?: unknown };
    if (type === 'text' && typeof partText === 'string') text += partText;
  }
  return text;
}
