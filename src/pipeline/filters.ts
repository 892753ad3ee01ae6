// The interfaces the pipeline's stages call the request filters through. Each filter is optional (null when not
// configured) and answers synchronously when it can, with a promise only when it really waits; a waiting filter
// honours the request's abort signal (the client left).
import type { RouterError } from '../errors/router-error.ts';
import type { PodEndpoint } from '../snapshot/types.ts';

/** Who is calling: never a credential. */
export interface Identity {
  readonly user: string;
  readonly method: 'jwt' | 'api-key';
}

/** null: no credential presented (anonymous allowed); a RouterError (401 `unauthorized`): refused. */
export type AuthResult = Identity | null | RouterError;

export interface Authenticator {
  authenticate(rawHeaders: readonly string[], signal: AbortSignal): AuthResult | Promise<AuthResult>;
  /** Lower-case request headers kept from in-cluster pods (the caller's credential unless it is to be forwarded). */
  readonly podHeadersToStrip?: readonly string[];
}

export interface AdmissionRequest {
  readonly model: string;
  readonly user: string;
  readonly sessionKey: string | null;
  readonly podsWaiting?: number;
  /** The pods the request was routed to (session boost's backpressure reads their waiting counts). */
  readonly pods?: readonly PodEndpoint[];
}

export interface AdmissionTicket {
  /** The request ended: its token usage (null when unknown or refused). */
  release(usage: { inputTokens: number; outputTokens: number } | null): void;
}

export interface Admission {
  /** false: every request goes through at once (the admit stage skips it). */
  readonly active: boolean;
  /** The fairness key (identity's user, else the operator's header) and the session key of a request. */
  keysOf(identityUser: string | null, rawHeaders: readonly string[]): { user: string; sessionKey: string | null };
  /** A ticket now when there is room, else waits; RouterError 503 `queue_timeout` when the wait times out. */
  admit(request: AdmissionRequest, signal: AbortSignal): AdmissionTicket | RouterError | Promise<AdmissionTicket | RouterError>;
}
