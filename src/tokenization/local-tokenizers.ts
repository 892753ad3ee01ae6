// The local tokenizers configured for kvcache-aware, by ModelServer ("namespace/name") or model name, each loaded
// once in the background (until it is loaded, or if loading failed, requests are tokenized by the engine). Small
// prompts are tokenized inline (a few hundred microseconds); prompts over `inlineMaxChars` go to the tokenizer's
// worker thread.
import { Worker } from 'node:worker_threads';
import { LocalTokenizer, type ChatEngine, type LocalTokenizerFiles } from './local-tokenizer.ts';
import type { PromptInput } from './prompt-input.ts';

export interface LocalTokenizerSetting extends LocalTokenizerFiles {
  /** Applies to requests for this model name (the request's, or the ModelServer's spec.model). */
  readonly model?: string | null;
  /** Applies to requests served by this ModelServer, "namespace/name". */
  readonly modelServer?: string | null;
}

type Answer = { id: number; ids?: Uint32Array; error?: string };

class LoadedTokenizer {
  readonly files: LocalTokenizerFiles;
  /** Rendered chats are cut to this many characters. */
  readonly maxChars: number;
  tokenizer: LocalTokenizer | null = null;
  error: string | null = null;
  #worker: Worker | null = null;
  /** No longer used (its plugin was replaced): the worker ends once it has answered what it was asked. */
  #retired = false;
  #nextId = 0;
  readonly #waiting = new Map<number, (answer: Answer) => void>();

  constructor(files: LocalTokenizerFiles, maxChars: number, onError: (message: string) => void) {
    this.files = files;
    this.maxChars = maxChars;
    LocalTokenizer.load(files).then(
      (tokenizer) => (this.tokenizer = tokenizer),
      (err: unknown) => {
        this.error = (err as Error).message;
        onError(`cannot load the tokenizer ${files.path}: ${this.error}`);
      },
    );
  }

  /** Tokenizes on the worker thread; null when it failed. */
  inWorker(input: Exclude<PromptInput, { kind: 'ids' }>, engine: ChatEngine): Promise<readonly number[] | null> {
    if (this.#retired) return Promise.resolve(null);
    const worker = (this.#worker ??= this.#startWorker());
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#waiting.set(id, (answer) => resolve(answer.ids === undefined ? null : Array.from(answer.ids)));
      worker.postMessage(input.kind === 'text' ? { id, kind: 'text', text: input.text } : { id, kind: 'chat', messages: input.messages, tools: input.tools, engine, maxChars: this.maxChars });
      worker.ref();
    });
  }

  #startWorker(): Worker {
    const file = import.meta.url.endsWith('.ts') ? './tokenizer-worker.ts' : './tokenizer-worker.js';
    const worker = new Worker(new URL(file, import.meta.url), { workerData: this.files });
    worker.unref(); // an idle worker does not keep the process alive
    worker.on('message', (answer: Answer) => {
      this.#waiting.get(answer.id)?.(answer);
      this.#waiting.delete(answer.id);
      if (this.#waiting.size > 0) return;
      worker.unref();
      if (this.#retired) void worker.terminate();
    });
    worker.on('error', () => this.#failAll());
    worker.on('exit', () => {
      this.#failAll();
      if (this.#worker === worker) this.#worker = null;
    });
    return worker;
  }

  #failAll(): void {
    for (const resolve of this.#waiting.values()) resolve({ id: -1, error: 'the tokenizer worker stopped' });
    this.#waiting.clear();
  }

  async close(): Promise<void> {
    await this.#worker?.terminate();
  }

  get hasWorker(): boolean {
    return this.#worker !== null;
  }

  /** Ends the worker thread (and the tokenizer it holds) now, or once the prompts it is tokenizing are done. */
  retire(): void {
    this.#retired = true;
    if (this.#worker !== null && this.#waiting.size === 0) void this.#worker.terminate();
  }
}

export type LocalTokenizeOutcome = { readonly ids: readonly number[] } | Promise<readonly number[] | null> | null;

export class LocalTokenizers {
  readonly #byServer = new Map<string, LoadedTokenizer>();
  readonly #byModel = new Map<string, LoadedTokenizer>();
  readonly #inlineMaxChars: number;

  /** `maxChars`: rendered chats are cut to this many characters (completion prompts arrive cut: prompt-input.ts). */
  constructor(settings: readonly LocalTokenizerSetting[], inlineMaxChars: number, maxChars: number, onError: (message: string) => void) {
    this.#inlineMaxChars = inlineMaxChars;
    const byFiles = new Map<string, LoadedTokenizer>();
    for (const setting of settings) {
      const key = JSON.stringify([setting.path, setting.config ?? null, setting.chatTemplate ?? null]);
      let loaded = byFiles.get(key);
      if (loaded === undefined) byFiles.set(key, (loaded = new LoadedTokenizer(setting, maxChars, onError)));
      if (setting.modelServer) this.#byServer.set(setting.modelServer, loaded);
      if (setting.model) this.#byModel.set(setting.model, loaded);
    }
  }

  get size(): number {
    return this.#byServer.size + this.#byModel.size;
  }

  /** Worker threads running (one per tokenizer that was given a long prompt). */
  get workerThreads(): number {
    return new Set([...this.#byServer.values(), ...this.#byModel.values()].filter((t) => t.hasWorker)).size;
  }

  /**
   * The prompt's ids: at once (small prompts), as a promise (worker thread), or null when no loaded tokenizer applies
   * or it cannot tokenize this input (then the engine tokenizes).
   */
  tokenize(serverKey: string, models: readonly string[], input: Exclude<PromptInput, { kind: 'ids' }>, engine: ChatEngine): LocalTokenizeOutcome {
    let loaded = this.#byServer.get(serverKey);
    for (let i = 0; loaded === undefined && i < models.length; i++) loaded = this.#byModel.get(models[i]);
    const tokenizer = loaded?.tokenizer ?? null;
    if (loaded === undefined || tokenizer === null) return null;
    const size = input.kind === 'text' ? input.text.length : chatChars(input.messages);
    if (size > this.#inlineMaxChars) return loaded.inWorker(input, engine);
    try {
      return { ids: input.kind === 'text' ? tokenizer.encodeText(input.text) : tokenizer.encodeChat(input.messages, engine, loaded.maxChars, input.tools) };
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#byServer.values(), ...this.#byModel.values()].map((t) => t.close()));
  }

  /** No longer used: worker threads end once idle (each holds a whole tokenizer). */
  retire(): void {
    for (const loaded of [...this.#byServer.values(), ...this.#byModel.values()]) loaded.retire();
  }
}

/** The characters of a chat's message contents (string or text parts), without rendering it. */
function chatChars(messages: readonly unknown[]): number {
  let chars = 0;
  for (const message of messages) {
    const content = typeof message === 'object' && message !== null ? (message as { content?: unknown }).content : undefined;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) for (const part of content as unknown[]) chars += typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text.length : 0;
  }
  return chars;
}
