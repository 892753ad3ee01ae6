// How the router learns a streamed answer's token usage, per API. Chat and text completions report usage in a
// stream only when asked (stream_options.include_usage): the router asks on the client's behalf and hides the extra
// usage-only event from that client. The Responses API (response.completed) and the Messages API (message_start,
// message_delta) always report it and have no stream_options field: their requests are forwarded unchanged.
import { editTopLevel, scanTopLevelMembers, type BodyEdit } from './json-body.ts';

/** Paths whose streams report usage only when stream_options.include_usage asks for it. */
const ASKS_FOR_STREAM_USAGE: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions']);

/**
 * For a streamed request to `path` (without query): the edit asking the upstream for usage in the stream, or null
 * when the client asked already or the API reports usage anyway.
 */
export function streamUsageEdit(path: string, body: Buffer, streamOptions: unknown): BodyEdit | null {
  if (!ASKS_FOR_STREAM_USAGE.has(path)) return null;
  const given = isObject(streamOptions);
  if (given && streamOptions.include_usage === true) return null;
  // Options of the wrong type are the engine's to refuse (400), as it would without the router: not mended here.
  if (streamOptions !== undefined && streamOptions !== null && !given) return null;
  if (given && streamOptions.include_usage !== undefined && streamOptions.include_usage !== null && typeof streamOptions.include_usage !== 'boolean') return null;
  // The client's other options are kept. Their bytes are spliced, not re-serialised: JSON.stringify overflows the
  // stack on deeply nested values that JSON.parse accepted.
  const member = given ? scanTopLevelMembers(body)?.members.findLast((m) => m.key === 'stream_options') : undefined;
  if (member === undefined) return { key: 'stream_options', value: { include_usage: true } };
  const current = body.subarray(member.valueStart, member.valueEnd);
  return { key: 'stream_options', json: editTopLevel(current, [{ key: 'include_usage', value: true }]).toString('utf8') };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
