// The Responses API's endpoints on one stored response: GET and DELETE /v1/responses/{id}, POST
// /v1/responses/{id}/cancel, GET /v1/responses/{id}/input_items. They carry no model: the router sends them to the pod
// that stored the response (vLLM keeps stored responses in that instance's memory), or the OpenAI provider that made
// it, found in ResponseOwners.

export type StoredResponseAction = 'retrieve' | 'cancel' | 'input_items';

export interface StoredResponseTarget {
  readonly id: string;
  readonly action: StoredResponseAction;
}

export const STORED_RESPONSES_PREFIX = '/v1/responses/';

/** Response ids as engines and OpenAI make them (`resp_` and hex or base62): plain, so the path forwards as is. */
const STORED_RESPONSE_PATH = /^\/v1\/responses\/([A-Za-z0-9_-]{1,200})(?:\/(cancel|input_items))?$/;

/** The stored response `path` (without its query) names, or null when it is no such path. */
export function storedResponseTarget(path: string): StoredResponseTarget | null {
  const match = STORED_RESPONSE_PATH.exec(path);
  if (match === null) return null;
  return { id: match[1], action: match[2] === 'cancel' ? 'cancel' : match[2] === 'input_items' ? 'input_items' : 'retrieve' };
}

/** The methods each endpoint takes (OpenAI's API): the Allow header of a 405. */
export function storedResponseMethods(action: StoredResponseAction): string {
  return action === 'retrieve' ? 'GET, DELETE' : action === 'cancel' ? 'POST' : 'GET';
}

export function storedResponseMethodAllowed(action: StoredResponseAction, method: string | undefined): boolean {
  return action === 'retrieve' ? method === 'GET' || method === 'DELETE' : action === 'cancel' ? method === 'POST' : method === 'GET';
}
