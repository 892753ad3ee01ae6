// Stage 2, authenticate: the configured authenticator (JWT, API keys) names the caller, or refuses with 401.
// Without one every request is anonymous. A JWKS fetch is the only reason it waits.
import { RouterError } from '../../errors/router-error.ts';
import type { RequestContext } from '../context.ts';
import type { AuthResult } from '../filters.ts';
import type { StageResult } from '../run.ts';
import { previousResponseVisible, storedResponseVisible } from '../stored-responses.ts';

export function authenticate(ctx: RequestContext): StageResult {
  const authenticator = ctx.deps.authenticator;
  if (authenticator == null) return undefined;
  const result = authenticator.authenticate(ctx.req.rawHeaders, ctx.signal);
  if (result instanceof Promise) return result.then((settled) => authenticated(ctx, settled));
  return authenticated(ctx, result);
}

function authenticated(ctx: RequestContext, result: AuthResult): undefined | RouterError {
  if (result instanceof RouterError) {
    if (result.code === 'unauthorized' && !ctx.res.headersSent) ctx.res.setHeader('www-authenticate', 'Bearer realm="switchyard"');
    return result;
  }
  ctx.identity = result;
  ctx.record.user = result === null ? null : result.user;
  if (ctx.storedResponse !== null) return storedResponseVisible(ctx);
  return ctx.pathOnly === '/v1/responses' ? previousResponseVisible(ctx) : undefined;
}
