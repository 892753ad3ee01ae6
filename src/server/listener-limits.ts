// The listener's bounds on what a client may hold: how long it may take to send its headers and its body, how long
// an idle keep-alive connection stays open, how large its headers and URL may be, and how many connections it may
// open (connection-guard.ts). Defaults and the reasons for them: README, "Limits and timeouts".
export interface ListenerLimits {
  /** The request line and headers (and the TLS handshake of an HTTPS listener) must arrive within this (--header-timeout). */
  readonly headersTimeoutMs: number;
  /** The body must arrive within this after the headers (--body-timeout). */
  readonly bodyTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (--keep-alive-timeout). */
  readonly keepAliveTimeoutMs: number;
  /** Open client connections (--max-connections); the file-descriptor limit may lower it. */
  readonly maxConnections: number;
  /** Request line plus headers (--max-header-size); larger: 431 (414 when the request line alone is). */
  readonly maxHeaderBytes: number;
  /** URL (path and query); longer: 414. */
  readonly maxUrlBytes: number;
}

export const DEFAULT_LISTENER_LIMITS: ListenerLimits = {
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 10_000,
  maxHeaderBytes: 32 * 1024,
  maxUrlBytes: 8 * 1024,
};

/** Node's check of the header and request deadlines runs this often: the timeouts are that precise. */
export function checkingIntervalMs(limits: ListenerLimits): number {
  return Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4)));
}
