// What an authenticator answers with; the pipeline reads `user` (fairness, per-user limits, the access log).
export interface Identity {
  readonly user: string;
  readonly method: 'jwt' | 'api-key';
}
