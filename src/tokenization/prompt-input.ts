// What a request asks an engine to tokenize, read from its body the way the engine reads it: a completion's
// `prompt` (its first prompt when it is a batch; token ids are taken as they are) or a chat's `messages` with its
// `tools` (on the Messages API after its top-level `system`, which the engine renders as the first, system message;
// on the Responses API its `instructions` and `input`, as the engine turns them into a chat).

export type PromptInput =
  | { readonly kind: 'text'; readonly text: string; readonly truncated: boolean }
  | { readonly kind: 'ids'; readonly ids: readonly number[] }
  | { readonly kind: 'chat'; readonly messages: readonly unknown[]; readonly tools?: readonly unknown[] };

const MESSAGES_PATH = '/v1/messages';
const RESPONSES_PATH = '/v1/responses';

/** null when the body has nothing to tokenize. `maxChars` bounds the text of a completion prompt. */
export function promptInput(body: unknown, maxChars: number, path = ''): PromptInput | null {
  if (typeof body !== 'object' || body === null) return null;
  const { prompt, messages, system, tools } = body as { prompt?: unknown; messages?: unknown; system?: unknown; tools?: unknown };
  let first: unknown = prompt;
  if (Array.isArray(prompt) && prompt.length > 0 && (typeof prompt[0] === 'string' || Array.isArray(prompt[0]))) first = prompt[0];
  if (typeof first === 'string') {
    if (first === '') return null;
    return first.length > maxChars ? { kind: 'text', text: first.slice(0, maxChars), truncated: true } : { kind: 'text', text: first, truncated: false };
  }
  if (Array.isArray(first) && first.length > 0 && first.every((id) => typeof id === 'number' && Number.isInteger(id))) return { kind: 'ids', ids: first as number[] };
  if (path === RESPONSES_PATH) return responsesChat(body);
  if (Array.isArray(messages) && messages.length > 0) {
    if (path === MESSAGES_PATH) {
      // Anthropic's tools are not the engine's chat tools (its Messages endpoint converts them): left out.
      if ((typeof system === 'string' || Array.isArray(system)) && system.length > 0) return { kind: 'chat', messages: [{ role: 'system', content: system }, ...(messages as unknown[])] };
      return { kind: 'chat', messages };
    }
    // The chat template renders the tool definitions into the prompt, usually ahead of the messages.
    return Array.isArray(tools) && tools.length > 0 ? { kind: 'chat', messages, tools } : { kind: 'chat', messages };
  }
  return null;
}

/**
 * A Responses request as the chat the engine renders: `instructions` as the system message, then `input` (a string
 * is one user message). Only plain messages with text content can be rendered alike; anything else (tool calls,
 * content parts) is left untokenized (no opinion).
 */
function responsesChat({ instructions, input }: { instructions?: unknown; input?: unknown }): PromptInput | null {
  const messages: { role: string; content: string }[] = [];
  if (typeof instructions === 'string' && instructions !== '') messages.push({ role: 'system', content: instructions });
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
  } else if (Array.isArray(input)) {
    for (const item of input as unknown[]) {
      if (typeof item !== 'object' || item === null) return null;
      const { type, role, content } = item as { type?: unknown; role?: unknown; content?: unknown };
      if ((type !== undefined && type !== 'message') || typeof role !== 'string' || typeof content !== 'string') return null;
      messages.push({ role, content });
    }
  }
  return messages.length > 0 ? { kind: 'chat', messages } : null;
}
