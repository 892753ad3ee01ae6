// SGLang's disaggregation protocol: prefill and decode are sent at once with the same random bootstrap_room; the
// decode connects to the prefill pod's bootstrap server (bootstrap_host:bootstrap_port) and the two engines hand the
// KV cache over for that room. Both sides wait for each other, so they must run concurrently. bootstrap_port is the
// prefill pod's switchyard.dev/bootstrap-port annotation, else SGLang's default 8998 (Kthena never sends it).
// Like SGLang's own router, both requests carry all three fields.
import { randomBytes } from 'node:crypto';
import { BOOTSTRAP_PORT_ANNOTATION, DEFAULT_BOOTSTRAP_PORT } from '../../resources/types.ts';
import type { PodEndpoint } from '../../snapshot/types.ts';
import { editTopLevel } from '../json-body.ts';
import { prefillBody, type PairBodies, type PairRequest, type PdConnector } from './types.ts';

export class SglangConnector implements PdConnector {
  readonly name = 'sglang';
  readonly concurrent = true;
  private readonly room: () => number;

  constructor(room: () => number = randomRoom) {
    this.room = room;
  }

  bodies(request: PairRequest): PairBodies {
    const bootstrap = [
      { key: 'bootstrap_room', value: this.room() },
      { key: 'bootstrap_host', value: request.prefill.ip },
      { key: 'bootstrap_port', value: bootstrapPort(request.prefill) },
    ];
    return { prefill: prefillBody(request, bootstrap), decode: () => editTopLevel(request.decodeBase, bootstrap) };
  }
}

/** The prefill pod's bootstrap port (the annotation is validated when the configuration loads). */
export function bootstrapPort(pod: PodEndpoint): number {
  const given = pod.annotations[BOOTSTRAP_PORT_ANNOTATION];
  return given === undefined ? DEFAULT_BOOTSTRAP_PORT : Number(given);
}

/** A random room per pair attempt: a non-negative integer below 2^53, so every JSON reader keeps it exact. */
export function randomRoom(): number {
  const bytes = randomBytes(7);
  bytes[0] &= 0x1f; // 53 bits
  return Number(BigInt(`0x${bytes.toString('hex')}`));
}
