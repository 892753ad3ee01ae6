import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { editTopLevel, includeUsageEdit, scanTopLevelMembers } from './json-body.ts';
import type { BodyEdit } from './json-body.ts';

const buf = (text: string): Buffer => Buffer.from(text, 'utf8');
const parse = (body: Buffer): unknown => JSON.parse(body.toString('utf8'));
const edited = (text: string, edits: readonly BodyEdit[]): unknown => parse(editTopLevel(buf(text), edits));

describe('scanTopLevelMembers', () => {
  it('finds key and value spans of every top-level member', () => {
    const text = ' {"a" : 1 ,"b":{"x":[1,{"y":"}"}]},\n"c":"q\\"}" , "d":true}  \n';
    const object = scanTopLevelMembers(buf(text));
    assert.ok(object);
    assert.deepEqual(
      object.members.map((m) => [m.key, text.slice(m.keyStart, m.keyStart + m.key.length + 2), text.slice(m.valueStart, m.valueEnd)]),
      [
        ['a', '"a"', '1'],
        ['b', '"b"', '{"x":[1,{"y":"}"}]}'],
        ['c', '"c"', '"q\\"}"'],
        ['d', '"d"', 'true'],
      ],
    );
    assert.equal(text[object.closeBrace], '}');
  });

  it('returns null when the top level is not an object', () => {
    for (const text of ['[1,2]', '"x"', '42', 'null', '', '   ']) assert.equal(scanTopLevelMembers(buf(text)), null, text);
  });

  it('returns null for visibly broken bodies instead of throwing', () => {
    for (const text of ['{', '{"a"', '{"a":', '{"a":1', '{"a":"x', '{"a":[1,2}', '{"a" 1}', '{"a":1 "b":2}', '{a:1}', '{"\\u00":1}']) {
      assert.equal(scanTopLevelMembers(buf(text)), null, text);
    }
  });

  it('decodes escaped keys', () => {
    const object = scanTopLevelMembers(buf('{"mod\\u0065l":"x","\\"q\\\\":1,"caf\u00e9":2}'));
    assert.deepEqual(object?.members.map((m) => m.key), ['model', '"q\\', 'caf\u00e9']);
  });
});

describe('editTopLevel', () => {
  it('returns the same Buffer when there are no edits or nothing changes', () => {
    const body = buf('{"a":1}');
    assert.equal(editTopLevel(body, []), body);
    assert.equal(editTopLevel(body, [{ key: 'missing', remove: true }]), body);
  });

  it('replaces the model and keeps every other byte', () => {
    const text = '{\n  "model": "llama",\n  "prompt": "hi",\n  "max_tokens": 7\n}\n';
    const out = editTopLevel(buf(text), [{ key: 'model', value: 'meta/llama-3' }]);
    assert.equal(out.toString(), '{\n  "model": "meta/llama-3",\n  "prompt": "hi",\n  "max_tokens": 7\n}\n');
  });

  it('replaces a key written with escapes', () => {
    assert.deepEqual(edited('{"mod\\u0065l":"a","x":1}', [{ key: 'model', value: 'b' }]), { model: 'b', x: 1 });
  });

  it('replaces and removes every duplicate', () => {
    assert.equal(editTopLevel(buf('{"m":1,"x":2,"m":3}'), [{ key: 'm', value: 9 }]).toString(), '{"m":9,"x":2,"m":9}');
    assert.equal(editTopLevel(buf('{"m":1,"x":2,"m":3}'), [{ key: 'm', remove: true }]).toString(), '{"x":2}');
  });

  it('keeps commas valid when removing the first, middle, last or only member', () => {
    const text = '{ "a": 1, "b": 2, "c": 3 }';
    assert.equal(editTopLevel(buf(text), [{ key: 'a', remove: true }]).toString(), '{ "b": 2, "c": 3 }');
    assert.equal(editTopLevel(buf(text), [{ key: 'b', remove: true }]).toString(), '{ "a": 1, "c": 3 }');
    assert.equal(editTopLevel(buf(text), [{ key: 'c', remove: true }]).toString(), '{ "a": 1, "b": 2 }');
    assert.equal(editTopLevel(buf(text), [{ key: 'b', remove: true }, { key: 'c', remove: true }]).toString(), '{ "a": 1 }');
    assert.equal(editTopLevel(buf(text), [{ key: 'a', remove: true }, { key: 'c', remove: true }]).toString(), '{ "b": 2 }');
    assert.equal(editTopLevel(buf('{"only":true}'), [{ key: 'only', remove: true }]).toString(), '{}');
    const all: BodyEdit[] = ['a', 'b', 'c'].map((key) => ({ key, remove: true }));
    assert.equal(editTopLevel(buf(text), all).toString(), '{  }');
  });

  it('appends absent keys before the closing brace, after trailing whitespace handling', () => {
    assert.equal(editTopLevel(buf('{}'), [{ key: 'max_tokens', value: 1 }]).toString(), '{"max_tokens":1}');
    assert.equal(editTopLevel(buf(' { } \n'), [{ key: 'a', value: 1 }, { key: 'b', value: 'x' }]).toString(), ' { "a":1,"b":"x"} \n');
    assert.equal(editTopLevel(buf('{"a":1\n}\n'), [{ key: 'k', value: { p: [1] } }]).toString(), '{"a":1,"k":{"p":[1]}\n}\n');
    assert.equal(
      editTopLevel(buf('{"a":1,"stream":true}'), [{ key: 'stream', remove: true }, { key: 'kv_transfer_params', value: { do_remote_decode: true } }]).toString(),
      '{"a":1,"kv_transfer_params":{"do_remote_decode":true}}',
    );
    assert.equal(editTopLevel(buf('{"a":1}'), [{ key: 'a', remove: true }, { key: 'b', value: 2 }]).toString(), '{"b":2}');
  });

  it('lets the last edit of a key win, and treats an undefined value as removal', () => {
    assert.deepEqual(edited('{"a":1}', [{ key: 'a', value: 2 }, { key: 'a', remove: true }]), {});
    assert.deepEqual(edited('{"a":1}', [{ key: 'a', remove: true }, { key: 'a', value: 3 }]), { a: 3 });
    assert.deepEqual(edited('{"a":1,"b":2}', [{ key: 'a', value: undefined }]), { b: 2 });
  });

  it('handles strings holding brackets, quotes, backslashes and multibyte text', () => {
    const text = '{"p":"}{][\\"\\\\","model":"x","u":"h\u00e9llo \u6f22 \ud83d\ude00","n":[{"s":"\\\\"}],"e":-1.5e-3,"t":null}';
    const out = edited(text, [{ key: 'model', value: 'caf\u00e9 \ud83d\ude00' }]);
    assert.deepEqual(out, { ...(JSON.parse(text) as object), model: 'caf\u00e9 \ud83d\ude00' });
  });

  it('handles bodies without any whitespace and with plenty of it', () => {
    assert.deepEqual(edited('{"a":[],"b":{}}', [{ key: 'b', value: 1 }]), { a: [], b: 1 });
    assert.deepEqual(edited('\r\n\t{\r\n\t"a"\r\n\t:\r\n\t[\r\n\t]\r\n\t,"b"\t:\t0\t}\t', [{ key: 'a', remove: true }]), { b: 0 });
  });

  it('inserts `json` edits as given, without serialising them', () => {
    assert.equal(editTopLevel(buf('{"a":1,"o":{"x" : [1]}}'), [{ key: 'o', json: '{"x" : [1],"y":true}' }]).toString(), '{"a":1,"o":{"x" : [1],"y":true}}');
    assert.equal(editTopLevel(buf('{"a":1}'), [{ key: 'o', json: '{}' }]).toString(), '{"a":1,"o":{}}');
  });

  it('throws when the top level is not an object', () => {
    assert.throws(() => editTopLevel(buf('[1]'), [{ key: 'a', value: 1 }]), TypeError);
  });
});

describe('includeUsageEdit', () => {
  it('adds include_usage, keeps other stream options, and is null when already on', () => {
    assert.deepEqual(includeUsageEdit({}), { key: 'stream_options', value: { include_usage: true } });
    assert.deepEqual(includeUsageEdit({ stream_options: { continuous_usage_stats: true, include_usage: false } }), {
      key: 'stream_options',
      value: { continuous_usage_stats: true, include_usage: true },
    });
    assert.deepEqual(includeUsageEdit({ stream_options: null }), { key: 'stream_options', value: { include_usage: true } });
    assert.equal(includeUsageEdit({ stream_options: { include_usage: true } }), null);
  });

  it('composes with a model replacement', () => {
    const text = '{"model":"a","stream":true,"stream_options":{"continuous_usage_stats":true},"prompt":"x"}';
    const edit = includeUsageEdit(JSON.parse(text) as Record<string, unknown>);
    assert.ok(edit);
    assert.equal(
      editTopLevel(buf(text), [{ key: 'model', value: 'b' }, edit]).toString(),
      '{"model":"b","stream":true,"stream_options":{"continuous_usage_stats":true,"include_usage":true},"prompt":"x"}',
    );
  });
});

// ---- property test ------------------------------------------------------------------------------

/** mulberry32: small, seeded, good enough to drive generators. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Generator {
  readonly random: () => number;
  constructor(seed: number) {
    this.random = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.random() < p;
  }

  ws(): string {
    return this.chance(0.5) ? '' : this.pick([' ', '\n', '\t', '\r\n', '  ', ' \n  ']);
  }

  /** A JSON string literal, with some characters randomly written as escapes. */
  stringLiteral(value: string): string {
    let out = '"';
    for (const char of value) {
      const code = char.codePointAt(0)!;
      const mustEscape = char === '"' || char === '\\' || code < 0x20;
      if (mustEscape || this.chance(0.1)) {
        out += this.chance(0.5) && char in SHORT_ESCAPES ? SHORT_ESCAPES[char] : unicodeEscape(char);
      } else {
        out += char;
      }
    }
    return out + '"';
  }

  text(maxLength: number): string {
    let out = '';
    const length = this.int(maxLength + 1);
    for (let i = 0; i < length; i++) out += this.pick(CHARS);
    return out;
  }

  number(): string {
    return this.pick(['0', '-0', '7', '-12', '3.25', '1e5', '-2.5E-3', '123456789012', '0.000001', '6.02e+23']);
  }

  /** Serialised value with random whitespace between tokens. */
  value(depth: number): string {
    const kind = depth > 4 ? this.int(4) : this.int(6);
    switch (kind) {
      case 0:
        return this.stringLiteral(this.text(12));
      case 1:
        return this.number();
      case 2:
        return this.pick(['true', 'false', 'null']);
      case 3:
        return this.stringLiteral(this.pick(['', '}', ']', '{"a":1}', '\\', '"', 'model']));
      case 4: {
        const items: string[] = [];
        const count = this.int(4);
        for (let i = 0; i < count; i++) items.push(this.ws() + this.value(depth + 1) + this.ws());
        return `[${items.join(',')}${this.ws()}]`;
      }
      default:
        return this.object(depth + 1, this.keysFor(this.int(4))).text;
    }
  }

  keysFor(count: number): string[] {
    const keys: string[] = [];
    for (let i = 0; i < count; i++) keys.push(this.pick(KEYS));
    return keys;
  }

  object(depth: number, keys: readonly string[]): { text: string } {
    const members = keys.map((key) => `${this.ws()}${this.stringLiteral(key)}${this.ws()}:${this.ws()}${this.value(depth)}${this.ws()}`);
    return { text: `{${members.join(',')}${members.length === 0 ? this.ws() : ''}}` };
  }

  editValue(): unknown {
    return this.pick<unknown>(['m', 'caf\u00e9 \ud83d\ude00', 1, -2.5, true, null, [1, 'x'], { include_usage: true, n: { d: [] } }, '}"\\']);
  }
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '/': '\\/' };
const CHARS = ['a', 'b', 'z', ' ', '"', '\\', '{', '}', '[', ']', ',', ':', '\n', '\t', '\u0001', '\u00e9', '\u6f22', '\ud83d\ude00', '/'];
const KEYS = ['model', 'stream', 'stream_options', 'max_tokens', 'messages', 'prompt', '', 'caf\u00e9', 'a"b', 'x\\y', '\ud83d\ude00', 'mod el'];

function unicodeEscape(char: string): string {
  let out = '';
  for (let i = 0; i < char.length; i++) out += '\\u' + char.charCodeAt(i).toString(16).padStart(4, '0');
  return out;
}

function applyToObject(object: Record<string, unknown>, edits: readonly BodyEdit[]): Record<string, unknown> {
  const result = { ...object };
  for (const edit of edits) {
    if ('remove' in edit) delete result[edit.key];
    else result[edit.key] = JSON.parse('json' in edit ? edit.json : JSON.stringify(edit.value)) as unknown;
  }
  return result;
}

describe('editTopLevel property test', () => {
  it('matches editing the parsed object, for thousands of random bodies and edits', () => {
    const gen = new Generator(0x5eed);
    const runs = 4000;
    for (let run = 0; run < runs; run++) {
      const topKeys = gen.keysFor(gen.int(7));
      const text = gen.ws() + gen.object(0, topKeys).text + gen.ws();
      const body = buf(text);
      const original = JSON.parse(text) as Record<string, unknown>;

      const object = scanTopLevelMembers(body);
      assert.ok(object, text);
      assert.deepEqual(
        object.members.map((m) => m.key),
        topKeys,
        text,
      );

      const edits: BodyEdit[] = [];
      const editCount = gen.int(4);
      for (let i = 0; i < editCount; i++) {
        const key = gen.chance(0.7) && topKeys.length > 0 ? gen.pick(topKeys) : gen.pick(KEYS);
        edits.push(gen.chance(0.35) ? { key, remove: true } : { key, value: gen.editValue() });
      }

      const out = editTopLevel(body, edits);
      let reparsed: unknown;
      try {
        reparsed = parse(out);
      } catch (error) {
        assert.fail(`invalid JSON after ${JSON.stringify(edits)} on ${JSON.stringify(text)}: ${out.toString()} (${String(error)})`);
      }
      assert.deepEqual(reparsed, applyToObject(original, edits), `${JSON.stringify(text)} ${JSON.stringify(edits)}`);
    }
  });
});
