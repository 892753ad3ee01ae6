// The part a mock plays in a prefill/decode-disaggregated deployment (--role prefill|decode). Each role checks the
// handshake for real, the way the engines it imitates depend on it:
//   vLLM, kv connector nixl / mooncake (pd-vllm.ts): a prefill asked for a remote decode answers kv_transfer_params
//     naming itself and a one-time transfer id; a decode claims that id from the named prefill over HTTP
//     (POST /mock/pd/claim) and refuses the request (400) unless a live prefill of its group issued it for this prompt.
//   SGLang (pd-sglang.ts): a prefill runs a bootstrap server (its own TCP port); for every request it publishes the
//     request's bootstrap_room there and waits for the decode to claim it; a decode connects to
//     bootstrap_host:bootstrap_port and waits for the prefill of its room. Either side gives up after pdTimeoutMs.
//   vLLM, kv connector http / lmcache: no handshake (the KV goes through a shared store); any order is fine.
// Answers name the instances that took part: x-mock-pd-role, x-mock-pd-prefill, x-mock-pd-decode.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './http-io.ts';
import type { GenerationKind } from './openai-format.ts';
import type { KvConnectorKind, PdRoleName, ResolvedMockEngineOptions } from './options.ts';

export interface PdAdmission {
  /** Response headers naming the instances that took part. */
  readonly headers: Readonly<Record<string, string>>;
  /** Top-level fields added to a non-streamed answer (a vLLM prefill's kv_transfer_params). */
  readonly fields: Readonly<Record<string, unknown>> | null;
}

/** GET /mock/pd. Counters restart at POST /mock/reset. */
export interface PdStats {
  role: PdRoleName;
  engine: 'vllm' | 'sglang';
  /** The handshake checked: nixl / mooncake / http / lmcache (vLLM) or bootstrap (SGLang). */
  protocol: KvConnectorKind | 'bootstrap';
  group: string | null;
  bootstrapPort: number | null;
  /** Requests that went through this role's side of the protocol. */
  admitted: number;
  /** Requests refused for a broken handshake (decode) or a malformed PD request (prefill). */
  refused: number;
  /** Prefill: KV handed to a decode (transfer ids claimed, bootstrap rooms claimed). */
  handedOver: number;
  /** Prefill: claims refused (unknown or used id, other group, other prompt). */
  claimsRefused: number;
  /** Prefill: KV no decode came for within pdTimeoutMs. */
  expired: number;
  /** The instance on the other side of the last completed handshake. */
  lastPartner: string | null;
}

export interface PdRole {
  readonly role: PdRoleName;
  /** SGLang prefill: the bootstrap server's port once started. */
  readonly bootstrapPort: number | null;
  /**
   * This request's side of the protocol, before generation: checks the request (HttpError 400 when broken) and waits
   * for the other side where the protocol says so. Resolves null when `signal` aborted meanwhile.
   */
  admit(kind: GenerationKind, body: Record<string, unknown>, signal: AbortSignal): Promise<PdAdmission | null>;
  /** POST /mock/pd/claim (vLLM prefills): a decode claims a transfer id. */
  handleClaim?(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): void;
  stats(): PdStats;
  resetStats(): void;
  close(): Promise<void>;
}

/** Who this engine is, as the other side must reach it. */
export interface PdIdentity {
  readonly instance: string;
  /** Address a decode can reach this engine at. */
  readonly host: string;
  readonly port: number;
}

export function newPdStats(options: ResolvedMockEngineOptions, protocol: PdStats['protocol'], bootstrapPort: number | null): PdStats {
  return {
    role: options.role ?? 'prefill',
    engine: options.engine,
    protocol,
    group: options.group ?? null,
    bootstrapPort,
    admitted: 0,
    refused: 0,
    handedOver: 0,
    claimsRefused: 0,
    expired: 0,
    lastPartner: null,
  };
}

export function resetCounters(stats: PdStats): void {
  Object.assign(stats, { admitted: 0, refused: 0, handedOver: 0, claimsRefused: 0, expired: 0, lastPartner: null });
}

/** Identifies the prompt whose KV cache moves: a decode must continue exactly the prompt its prefill computed. */
export function promptHash(kind: GenerationKind, body: Record<string, unknown>): string {
  const prompt = kind === 'chat' ? body.messages : body.prompt;
  return createHash('sha256').update(JSON.stringify(prompt ?? null)).digest('hex').slice(0, 16);
}

/** A PD prefill request computes the prompt and one token, without streaming. */
export function checkPrefillShape(body: Record<string, unknown>): void {
  if (body.stream === true) throw new HttpError(400, 'A prefill request must not stream: the router streams the decode instead.');
  for (const key of ['max_tokens', 'max_completion_tokens']) {
    const value = body[key];
    if (value !== undefined && value !== null && value !== 1) throw new HttpError(400, `A prefill request computes one token: ${key} must be 1, got ${JSON.stringify(value)}.`);
  }
  if (body.max_tokens !== 1 && body.max_completion_tokens !== 1) throw new HttpError(400, 'A prefill request computes one token: max_tokens must be 1.');
}

export function roleHeaders(role: PdRoleName, me: string, partner: string | null): Record<string, string> {
  const headers: Record<string, string> = { 'x-mock-pd-role': role, [`x-mock-pd-${role}`]: me };
  if (partner !== null) headers[`x-mock-pd-${role === 'prefill' ? 'decode' : 'prefill'}`] = partner;
  return headers;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `message` of an error body answered by another mock (vLLM shape) or the bootstrap server, else the raw text. */
export function errorMessageOf(text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (isRecord(parsed) && typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return text.slice(0, 500);
}

/** Resolves after `ms`, or at once with false when `signal` aborts. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** vLLM with kv connector http / lmcache: no handshake, so nothing to check; answers name the instance only. */
export function httpModeRole(options: ResolvedMockEngineOptions, identity: PdIdentity): PdRole {
  const role = options.role ?? 'prefill';
  const stats = newPdStats(options, options.kvConnector, null);
  return {
    role,
    bootstrapPort: null,
    admit: (_kind, body) => {
      // A prefill-shaped request is counted; anything is served (in the demo these pods also serve aggregated traffic).
      if (role === 'decode' || (body.stream !== true && body.max_tokens === 1)) stats.admitted++;
      return Promise.resolve({ headers: roleHeaders(role, identity.instance, null), fields: null });
    },
    stats: () => ({ ...stats }),
    resetStats: () => resetCounters(stats),
    close: () => Promise.resolve(),
  };
}
