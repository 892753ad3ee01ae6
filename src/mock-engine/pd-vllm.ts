// vLLM's disaggregated prefill/decode with NixlConnector (and MooncakeConnector, same handshake), imitated:
//   prefill: a request with kv_transfer_params {do_remote_decode: true} (and max_tokens 1, no stream) keeps its KV
//     cache for a remote decode and answers kv_transfer_params naming itself (remote_engine_id, remote_host,
//     remote_port) and a one-time transfer id (remote_request_id), valid for pdTimeoutMs. A request without
//     kv_transfer_params is served like on any engine.
//   decode: requires kv_transfer_params with do_remote_prefill; claims remote_request_id from the prefill at
//     remote_host:remote_port (POST /mock/pd/claim, with its group and prompt) before generating, and answers 400
//     when the prefill cannot be reached or refuses: unknown or already used id, another group, another prompt.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, errorBody, sendJson } from './http-io.ts';
import type { GenerationKind } from './openai-format.ts';
import type { ResolvedMockEngineOptions } from './options.ts';
import {
  checkPrefillShape,
  errorMessageOf,
  isRecord,
  newPdStats,
  promptHash,
  resetCounters,
  roleHeaders,
  type PdAdmission,
  type PdIdentity,
  type PdRole,
} from './pd-role.ts';

interface IssuedTransfer {
  readonly group: string | null;
  readonly prompt: string;
  readonly timer: NodeJS.Timeout;
}

const CONNECTOR_CLASS = { nixl: 'NixlConnector', mooncake: 'MooncakeConnector' } as const;

export function vllmPrefillRole(options: ResolvedMockEngineOptions, identity: PdIdentity): PdRole {
  const stats = newPdStats(options, options.kvConnector, null);
  const group = options.group ?? null;
  const issued = new Map<string, IssuedTransfer>();
  /** Transfer id → the decode that claimed it, for a clear "already claimed" answer. */
  const claimed = new Map<string, string>();
  let blocks = 0;

  const refuse = (message: string): never => {
    stats.refused++;
    throw new HttpError(400, message);
  };

  return {
    role: 'prefill',
    bootstrapPort: null,
    admit(kind: GenerationKind, body: Record<string, unknown>): Promise<PdAdmission | null> {
      const params = body.kv_transfer_params;
      if (params === undefined || params === null) {
        return Promise.resolve({ headers: roleHeaders('prefill', identity.instance, null), fields: null });
      }
      if (!isRecord(params) || params.do_remote_decode !== true) {
        refuse(`kv_transfer_params must ask this prefill instance for a remote decode ({"do_remote_decode": true}), got ${JSON.stringify(params)}.`);
      }
      try {
        checkPrefillShape(body);
      } catch (error) {
        stats.refused++;
        throw error;
      }
      const id = `xfer-${randomUUID()}`;
      const timer = setTimeout(() => {
        if (issued.delete(id)) stats.expired++;
      }, options.pdTimeoutMs);
      timer.unref();
      issued.set(id, { group, prompt: promptHash(kind, body), timer });
      stats.admitted++;
      const blockIds = [blocks++, blocks++];
      return Promise.resolve({
        headers: roleHeaders('prefill', identity.instance, null),
        fields: {
          kv_transfer_params: {
            do_remote_prefill: true,
            do_remote_decode: false,
            remote_engine_id: identity.instance,
            remote_block_ids: blockIds,
            remote_host: identity.host,
            remote_port: identity.port,
            remote_request_id: id,
            tp_size: 1,
          },
        },
      });
    },
    handleClaim(_req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): void {
      const id = typeof body.remote_request_id === 'string' ? body.remote_request_id : '';
      const decode = typeof body.decode === 'string' ? body.decode : 'a decode instance';
      const deny = (status: number, message: string): void => {
        stats.claimsRefused++;
        sendJson(res, status, errorBody(status, message));
      };
      const transfer = issued.get(id);
      if (transfer === undefined) {
        const by = claimed.get(id);
        return by !== undefined
          ? deny(409, `Transfer ${id} of prefill ${identity.instance} was already claimed by ${by}: KV is handed over once.`)
          : deny(404, `Prefill ${identity.instance} did not issue transfer ${JSON.stringify(id)}, or it expired.`);
      }
      const claimant = typeof body.group === 'string' ? body.group : null;
      if (claimant !== transfer.group) {
        return deny(403, `Prefill ${identity.instance} is in PD group ${JSON.stringify(transfer.group)}; ${decode} of group ${JSON.stringify(claimant)} may not take its KV.`);
      }
      if (body.prompt_hash !== transfer.prompt) return deny(409, `Transfer ${id} holds the KV of another prompt than ${decode}'s.`);
      clearTimeout(transfer.timer);
      issued.delete(id);
      claimed.set(id, decode);
      stats.handedOver++;
      stats.lastPartner = decode;
      sendJson(res, 200, { prefill: identity.instance, group: transfer.group, remote_request_id: id });
    },
    stats: () => ({ ...stats }),
    resetStats: () => resetCounters(stats),
    close: () => {
      for (const transfer of issued.values()) clearTimeout(transfer.timer);
      issued.clear();
      return Promise.resolve();
    },
  };
}

export function vllmDecodeRole(options: ResolvedMockEngineOptions, identity: PdIdentity): PdRole {
  const stats = newPdStats(options, options.kvConnector, null);
  const connector = options.kvConnector === 'mooncake' ? CONNECTOR_CLASS.mooncake : CONNECTOR_CLASS.nixl;
  const refuse = (message: string): never => {
    stats.refused++;
    throw new HttpError(400, message);
  };

  return {
    role: 'decode',
    bootstrapPort: null,
    async admit(kind: GenerationKind, body: Record<string, unknown>, signal: AbortSignal): Promise<PdAdmission | null> {
      const params = body.kv_transfer_params;
      if (!isRecord(params)) {
        return refuse(`This decode instance (${connector}, kv_role kv_consumer) needs the kv_transfer_params a prefill instance answered; the request has ${params === undefined ? 'none' : JSON.stringify(params)}.`);
      }
      if (params.do_remote_prefill !== true) refuse('kv_transfer_params.do_remote_prefill must be true: the KV cache comes from a remote prefill.');
      const { remote_host: host, remote_port: port, remote_request_id: id } = params;
      if (typeof host !== 'string' || host === '') refuse('kv_transfer_params.remote_host is missing.');
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) refuse('kv_transfer_params.remote_port is missing or not a port.');
      if (typeof id !== 'string' || id === '') refuse('kv_transfer_params.remote_request_id is missing.');
      const where = `${String(host).includes(':') ? `[${String(host)}]` : String(host)}:${String(port)}`;
      let response: Response;
      try {
        response = await fetch(`http://${where}/mock/pd/claim`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ remote_request_id: id, group: options.group ?? null, prompt_hash: promptHash(kind, body), decode: identity.instance }),
          signal: AbortSignal.any([signal, AbortSignal.timeout(options.pdTimeoutMs)]),
        });
      } catch (error) {
        if (signal.aborted) return null;
        return refuse(`Cannot reach the prefill instance named in kv_transfer_params (${where}) to pull the KV cache: ${causeOf(error)}.`);
      }
      const text = await response.text();
      if (signal.aborted) return null;
      if (response.status !== 200) return refuse(`The prefill at ${where} refused kv_transfer_params: ${errorMessageOf(text)}`);
      const prefill = (JSON.parse(text) as { prefill: string }).prefill;
      stats.admitted++;
      stats.lastPartner = prefill;
      return { headers: roleHeaders('decode', identity.instance, prefill), fields: null };
    },
    stats: () => ({ ...stats }),
    resetStats: () => resetCounters(stats),
    close: () => Promise.resolve(),
  };
}

export function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
