// The models one engine serves: its base model under the served name, plus LoRA adapters loaded at start or at runtime.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, sendJson, sendText } from './http-io.ts';
import type { EngineKind } from './options.ts';

export class ModelRegistry {
  readonly servedName: string;
  readonly #root: string;
  readonly #owner: EngineKind;
  readonly #created = Math.floor(Date.now() / 1000);
  /** adapter name → path it was loaded from (vLLM reports the path as the adapter's `root`). */
  readonly #adapters = new Map<string, string>();
  /** As /tokenize reports it: vLLM's /v1/models and /tokenize agree. */
  readonly #maxModelLen: number;

  constructor(servedName: string, root: string, owner: EngineKind, startupAdapters: readonly string[], maxModelLen: number) {
    this.servedName = servedName;
    this.#maxModelLen = maxModelLen;
    this.#root = root;
    this.#owner = owner;
    for (const name of startupAdapters) this.#adapters.set(name, name);
  }

  /** True for the served model name and every loaded adapter: the names a request may ask for. */
  serves(name: string): boolean {
    return name === this.servedName || this.#adapters.has(name);
  }

  /** GET /v1/models, in vLLM's shape. */
  handleList(_req: IncomingMessage, res: ServerResponse): void {
    const card = (id: string, root: string, parent: string | null) => ({
      id,
      object: 'model',
      created: this.#created,
      owned_by: this.#owner,
      root,
      parent,
      max_model_len: this.#maxModelLen,
    });
    const data = [card(this.servedName, this.#root, null), ...[...this.#adapters].map(([name, path]) => card(name, path, this.servedName))];
    sendJson(res, 200, { object: 'list', data });
  }

  /** POST /v1/load_lora_adapter {"lora_name","lora_path"}; messages as in vLLM. */
  handleLoad(_req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): void {
    const { lora_name: name, lora_path: path } = body;
    if (typeof name !== 'string' || name === '' || typeof path !== 'string' || path === '') {
      throw new HttpError(400, "Both 'lora_name' and 'lora_path' must be provided.", 'InvalidUserInput');
    }
    if (this.serves(name)) throw new HttpError(400, `The lora adapter '${name}' has already been loaded.`, 'InvalidUserInput');
    this.#adapters.set(name, path);
    sendText(res, 200, `Success: LoRA adapter '${name}' added successfully.`);
  }

  /** POST /v1/unload_lora_adapter {"lora_name"}; messages as in vLLM. */
  handleUnload(_req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): void {
    const name = body.lora_name;
    if (typeof name !== 'string' || name === '') {
      throw new HttpError(400, "'lora_name' needs to be provided to unload a LoRA adapter.", 'InvalidUserInput');
    }
    if (!this.#adapters.delete(name)) throw new HttpError(404, `The lora adapter '${name}' cannot be found.`, 'NotFoundError');
    sendText(res, 200, `Success: LoRA adapter '${name}' removed successfully.`);
  }
}
