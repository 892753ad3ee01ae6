import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileMatchRegex, type MatchRegex } from './regex.ts';

function compiled(pattern: string): MatchRegex {
  const result = compileMatchRegex(pattern);
  assert.ok(result.ok, `${pattern} should compile: ${result.ok ? '' : result.error}`);
  return result;
}

describe('compileMatchRegex (Go regexp semantics: RE2 syntax, unanchored MatchString)', () => {
  // [pattern, input, matches] — each as Go's regexp.MatchString answers.
  const cases: [string, string, boolean][] = [
    ['premium', 'a-premium-user', true], // unanchored: a partial match succeeds
    ['^/v1/', '/v1/chat/completions', true],
    ['^/v1/', '/api/v1/', false],
    ['(?i)premium', 'PREMIUM', true],
    ['(?i)premium', 'basic', false],
    ['(?is)a.b', 'A\nB', true],
    ['(?s)a.b', 'a\nb', true],
    ['a.b', 'a\nb', false], // RE2 `.` excludes \n ...
    ['a.b', 'a\rb', true], // ... but, unlike JavaScript's, not \r
    ['(?m)^b$', 'a\nb\nc', true],
    ['^b$', 'a\nb\nc', false],
    ['(?P<tier>gold|silver)', 'silver', true],
    ['(?<tier>gold|silver)', 'gold', true], // Go 1.22+ accepts this spelling too
    ['\\Q.*+\\E$', 'x.*+', true],
    ['\\Q.*+\\E$', 'xyz', false],
    ['^[[:digit:]]+$', '2024', true],
    ['^[[:alpha:]_]+$', 'a_b', true],
    ['[]a]', ']', true], // RE2: a leading ] is a literal
    ['\\Afoo', 'foo', true],
    ['(?m)\\Afoo', 'x\nfoo', false],
    ['foo\\z', 'foo\n', false],
    ['\\x{41}', 'A', true],
    ['\\x{263A}', '\u263a', true],
    ['\\x{1F600}', '\u{1F600}', true], // above U+FFFF: one code point
    ['(?i:ab)c', 'ABc', true],
    ['(?U)a+', 'aaa', true], // ungreedy flag: valid in Go
    ['a(?i)b', 'aB', true], // flags mid-pattern: valid in Go
    ['^\\pL+$', 'héllo', true],
    ['(a+)+$', `${'a'.repeat(40)}!`, false], // catastrophic for a backtracking engine; linear here
    // Where V8's regex and Go's differ:
    ['^\\s$', '\v', false], // RE2's \s is [\t\n\f\r ]: no vertical tab ...
    ['^\\s$', '\u00a0', false], // ... and no Unicode spaces
    ['^\\s$', '\u2003', false],
    ['^\\s$', '\t', true],
    ['^.$', '\u{1F600}', true], // `.` is one code point, not one UTF-16 unit
    ['^..$', '\u{1F600}', false],
    ['^[^a]$', '\u{1F600}', true],
    ['^\\w$', 'é', false], // \w is ASCII in RE2
    ['^\\d$', '\u0663', false], // and so is \d
  ];
  for (const [pattern, input, matches] of cases) {
    it(`${pattern} ${matches ? 'matches' : 'does not match'} ${JSON.stringify(input)}`, () => {
      assert.equal(compiled(pattern).test(input), matches);
    });
  }

  it('matches UTF-8 bytes as Go matches a string of them', () => {
    assert.equal(compiled('^.$').testBytes(Buffer.from('\u{1F600}')), true);
    assert.equal(compiled('^é+$').testBytes(Buffer.from('éé')), true);
    assert.equal(compiled('^..$').testBytes(Buffer.from([0xe0, 0xa4])), true, 'each invalid byte is one U+FFFD');
  });

  // [pattern, Go's reason] — Go's regexp.Compile refuses these, and so does Kthena's webhook.
  const invalid: [string, string][] = [
    ['(', 'missing closing )'],
    ['a)', 'unexpected )'],
    ['[a', 'missing closing ]'],
    ['*a', 'missing argument to repetition operator'],
    ['(a)\\1', 'invalid escape sequence: `\\1`'], // backreference
    ['(?=a)b', 'invalid or unsupported Perl syntax'], // lookahead
    ['(?!a)b', 'invalid or unsupported Perl syntax'], // negative lookahead
    ['(?<=a)b', 'invalid named capture'], // lookbehind
    ['(?<!a)b', 'invalid named capture'], // negative lookbehind
    ['a++', 'invalid nested repetition operator'], // possessive
    ['a{1001}', 'invalid repeat count'],
    ['\\e', 'invalid escape sequence'],
    ['[[:foo:]]', 'invalid character class range'],
    ['abc\\', 'trailing backslash'],
  ];
  for (const [pattern, reason] of invalid) {
    it(`${pattern} is refused: ${reason}`, () => {
      const result = compileMatchRegex(pattern);
      assert.ok(!result.ok, 'should not compile');
      assert.ok(result.error.includes(reason), result.error);
      assert.ok(result.error.startsWith(`invalid regex ${JSON.stringify(pattern)}`), result.error);
    });
  }
});
