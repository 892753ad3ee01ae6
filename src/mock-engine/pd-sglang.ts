// SGLang's disaggregation handshake (--disaggregation-mode prefill|decode), imitated:
//   prefill: requires bootstrap_room (and, when given, bootstrap_port equal to its own bootstrap server's port),
//     max_tokens 1 and no stream; publishes the room on its bootstrap server (pd-bootstrap.ts) and answers only once a
//     decode claimed it, or fails (500) when none did within pdTimeoutMs. So a router sending prefill and decode one
//     after the other, or with different rooms, never gets an answer.
//   decode: requires bootstrap_room, bootstrap_host and bootstrap_port; connects to the bootstrap server there and
//     waits for the prefill of its room before generating. Unreachable server, other group or prompt: 400; the
//     prefill never came: 504.
import { HttpError } from './http-io.ts';
import type { GenerationKind } from './openai-format.ts';
import type { ResolvedMockEngineOptions } from './options.ts';
import { BootstrapServer } from './pd-bootstrap.ts';
import { checkPrefillShape, errorMessageOf, newPdStats, promptHash, resetCounters, roleHeaders, type PdAdmission, type PdIdentity, type PdRole } from './pd-role.ts';
import { causeOf } from './pd-vllm.ts';

export async function sglangPrefillRole(options: ResolvedMockEngineOptions, identity: PdIdentity, bindHost: string): Promise<PdRole> {
  const bootstrap = new BootstrapServer(identity.instance, options.group ?? null, options.pdTimeoutMs);
  const port = await bootstrap.listen(options.bootstrapPort, bindHost);
  const stats = newPdStats(options, 'bootstrap', port);
  let claimsRefusedBase = 0;
  const refuse = (message: string): HttpError => {
    stats.refused++;
    return new HttpError(400, message);
  };

  return {
    role: 'prefill',
    bootstrapPort: port,
    async admit(kind: GenerationKind, body: Record<string, unknown>, signal: AbortSignal): Promise<PdAdmission | null> {
      const room = body.bootstrap_room;
      if (typeof room !== 'number' || !Number.isSafeInteger(room) || room < 0) {
        throw refuse(`An SGLang prefill instance needs bootstrap_room (a non-negative integer) to hand its KV cache over; got ${JSON.stringify(room ?? null)}.`);
      }
      if (body.bootstrap_port !== undefined && body.bootstrap_port !== port) {
        throw refuse(`bootstrap_port ${JSON.stringify(body.bootstrap_port)} is not this prefill's bootstrap port (${port}); the decode would look for it in the wrong place.`);
      }
      try {
        checkPrefillShape(body);
      } catch (error) {
        stats.refused++;
        throw error;
      }
      let result;
      try {
        result = await bootstrap.publish(room, promptHash(kind, body), signal);
      } catch (error) {
        throw refuse((error as Error).message);
      }
      if ('aborted' in result) return null;
      if ('timedOut' in result) {
        stats.expired++;
        throw new HttpError(500, `KV transfer of bootstrap_room ${room} failed: no decode instance connected to bootstrap server ${identity.host}:${port} within ${options.pdTimeoutMs} ms.`);
      }
      stats.admitted++;
      stats.handedOver++;
      stats.lastPartner = result.decode;
      return { headers: roleHeaders('prefill', identity.instance, result.decode), fields: null };
    },
    stats: () => ({ ...stats, claimsRefused: bootstrap.claimsRefused - claimsRefusedBase }),
    resetStats: () => {
      resetCounters(stats);
      claimsRefusedBase = bootstrap.claimsRefused;
    },
    close: () => bootstrap.close(),
  };
}

export function sglangDecodeRole(options: ResolvedMockEngineOptions, identity: PdIdentity): PdRole {
  const stats = newPdStats(options, 'bootstrap', null);
  const refuse = (message: string, status = 400): HttpError => {
    stats.refused++;
    return new HttpError(status, message);
  };

  return {
    role: 'decode',
    bootstrapPort: null,
    async admit(kind: GenerationKind, body: Record<string, unknown>, signal: AbortSignal): Promise<PdAdmission | null> {
      const { bootstrap_room: room, bootstrap_host: host, bootstrap_port: port } = body;
      if (typeof room !== 'number' || !Number.isSafeInteger(room) || room < 0) {
        throw refuse(`An SGLang decode instance needs bootstrap_room (a non-negative integer), the room its prefill uses; got ${JSON.stringify(room ?? null)}.`);
      }
      if (typeof host !== 'string' || host === '') throw refuse('An SGLang decode instance needs bootstrap_host: the address of the prefill instance holding the KV cache.');
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw refuse(`An SGLang decode instance needs bootstrap_port: the prefill's bootstrap server port (SGLang's default is 8998); got ${JSON.stringify(port ?? null)}.`);
      }
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      const query = new URLSearchParams({ room: String(room), prompt: promptHash(kind, body), decode: identity.instance });
      if (options.group !== undefined) query.set('group', options.group);
      let response: Response;
      try {
        response = await fetch(`http://${where}/bootstrap/claim?${query.toString()}`, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(options.pdTimeoutMs + 1000)]),
        });
      } catch (error) {
        if (signal.aborted) return null;
        throw refuse(`Cannot connect to the bootstrap server at ${where} for bootstrap_room ${room}: ${causeOf(error)}.`);
      }
      const text = await response.text();
      if (signal.aborted) return null;
      if (response.status === 404) throw refuse(`KV transfer of bootstrap_room ${room} failed: ${errorMessageOf(text)}`, 504);
      if (response.status !== 200) throw refuse(`The bootstrap server at ${where} refused bootstrap_room ${room}: ${errorMessageOf(text)}`);
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
