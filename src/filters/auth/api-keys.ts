// Static API keys: each names a user. The file (YAML or JSON; the same text can later come from a Kubernetes Secret's
// data) is a list of entries `{user, keyHash}` (SHA-256 of the key, hex) or `{user, key}` (plain, hashed at load and
// then forgotten). Only hashes are kept; a presented key is hashed, looked up by hash and confirmed with a
// constant-time comparison.
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { ConfigIssue } from '../../resources/types.ts';
import { issueAt, parseSection, type SectionResult } from '../config-issues.ts';
import type { Identity } from './identity.ts';

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
/** Bearer tokens of this shape are JWTs (see authenticator.ts), so a key must not have it. */
const JWT_SHAPE = /^[^.]*\.[^.]*\.[^.]*$/;

const entrySchema = z
  .strictObject({
    user: z.string().min(1),
    key: z.string().min(1).optional(),
    keyHash: z.string().regex(SHA256_HEX, 'must be a SHA-256 digest in hex (64 characters)').optional(),
  })
  .refine((e) => (e.key === undefined) !== (e.keyHash === undefined), { message: 'give exactly one of key and keyHash' });
const fileSchema = z.array(entrySchema);

interface KeyEntry {
  readonly digest: Buffer;
  readonly identity: Identity;
}

/** An immutable set of keys, indexed by the hex SHA-256 of each key. */
export class ApiKeySet {
  private readonly byHash: ReadonlyMap<string, KeyEntry>;

  constructor(entries: readonly { readonly user: string; readonly keyHash: string }[]) {
    this.byHash = new Map(
      entries.map((e) => [e.keyHash.toLowerCase(), { digest: Buffer.from(e.keyHash, 'hex'), identity: { user: e.user, method: 'api-key' as const } }]),
    );
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The key's identity, or null when the key is unknown. */
  lookup(key: string): Identity | null {
    const digest = createHash('sha256').update(key).digest();
    const entry = this.byHash.get(digest.toString('hex'));
    // The map lookup already matched; the constant-time comparison keeps the final decision free of early exits.
    if (entry === undefined || !timingSafeEqual(entry.digest, digest)) return null;
    return entry.identity;
  }
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Parses an API key file's text (YAML or JSON). Issues name `source` and the entry's field. */
export function parseApiKeys(text: string, source: string): SectionResult<ApiKeySet> {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    // The parser's message ends with the offending line quoted, which may hold a key: only its first line is kept.
    return { ok: false, issues: document.errors.map((e) => issueAt('error', source, [], `YAML syntax error: ${e.message.split('\n')[0]?.replace(/:$/, '')}`)) };
  }
  // Values are never quoted in the errors: they are keys, and errors are logged.
  const parsed = parseSection(fileSchema, document.toJS() ?? [], source, [], true);
  if (!parsed.ok) return parsed;
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  const entries = parsed.config.map((entry, i) => {
    if (entry.key !== undefined && JWT_SHAPE.test(entry.key)) {
      issues.push(issueAt('error', source, [i, 'key'], 'must not have the shape of a JWT (two dots): such bearer tokens are verified as JWTs'));
    }
    const keyHash = entry.keyHash?.toLowerCase() ?? hashApiKey(entry.key ?? '');
    const first = seen.get(keyHash);
    if (first !== undefined) issues.push(issueAt('error', source, [i], `the same key as entry ${first} (user ${parsed.config[first]?.user})`));
    seen.set(keyHash, i);
    return { user: entry.user, keyHash };
  });
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, config: new ApiKeySet(entries), issues };
}

/** The same list kept in a Kubernetes Secret: `data[key]` holds the file's text, base64-encoded (Secret `data`). */
export function parseApiKeysSecret(data: Readonly<Record<string, string>>, key: string, source: string): SectionResult<ApiKeySet> {
  const encoded = data[key];
  if (encoded === undefined) return { ok: false, issues: [issueAt('error', source, ['data', key], 'is missing')] };
  return parseApiKeys(Buffer.from(encoded, 'base64').toString('utf8'), source);
}
