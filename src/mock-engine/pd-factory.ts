// Which PD role implementation a mock runs (pd-role.ts describes the protocols).
import type { ResolvedMockEngineOptions } from './options.ts';
import { httpModeRole, type PdIdentity, type PdRole } from './pd-role.ts';
import { sglangDecodeRole, sglangPrefillRole } from './pd-sglang.ts';
import { vllmDecodeRole, vllmPrefillRole } from './pd-vllm.ts';

/** The role of `options`, started (an SGLang prefill's bootstrap server listens on `bindHost`); null without a role. */
export async function startPdRole(options: ResolvedMockEngineOptions, identity: PdIdentity, bindHost: string): Promise<PdRole | null> {
  if (options.role === undefined) return null;
  if (options.engine === 'sglang') {
    return options.role === 'prefill' ? sglangPrefillRole(options, identity, bindHost) : sglangDecodeRole(options, identity);
  }
  if (options.kvConnector === 'http' || options.kvConnector === 'lmcache') return httpModeRole(options, identity);
  return options.role === 'prefill' ? vllmPrefillRole(options, identity) : vllmDecodeRole(options, identity);
}

/** The address other engines reach a mock at: its listen address, or loopback for a wildcard one. */
export function advertisedHost(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
}
