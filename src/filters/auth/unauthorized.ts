// 401 answers: OpenAI-style body (via RouterError) and an RFC 6750 WWW-Authenticate challenge.
import { RouterError } from '../../errors/router-error.ts';

const REALM = 'switchyard';
const UNSAFE_IN_QUOTES = /["\\\r\n]/g;

/** No credential at all: a bare challenge (RFC 6750 §3.1: no error code when the request had no token). */
export function missingCredential(message: string): RouterError {
  return new RouterError('unauthorized', message, ['www-authenticate', `Bearer realm="${REALM}"`]);
}

/** A credential that was presented and refused. */
export function invalidCredential(message: string): RouterError {
  const description = message.replace(UNSAFE_IN_QUOTES, "'");
  return new RouterError('unauthorized', message, [
    'www-authenticate',
    `Bearer realm="${REALM}", error="invalid_token", error_description="${description}"`,
  ]);
}
