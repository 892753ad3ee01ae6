import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileMatchRegex } from './regex.ts';

function compiled(pattern: string): { regex: RegExp; linear: boolean } {
  const result = compileMatchRegex(pattern);
  assert.ok(result.ok, `${pattern} should compile: ${result.ok ? '' : result.error}`);
  return result;
}

describe('compileMatchRegex (RE2 MatchString semantics)', () => {
  // [pattern, input, matches, runs on the linear-time engine]
  const cases: [string, string, boolean, boolean][] = [
    ['premium', 'a-premium-user', true, true], // unanchored: a partial match succeeds
    ['^/v1/', '/v1/chat/completions', true, true],
    ['^/v1/', '/api/v1/', false, true],
    ['(?i)premium', 'PREMIUM', true, false], // V8's linear engine has no `i`
    ['(?i)premium', 'basic', false, false],
    ['(?is)a.b', 'A\nB', true, false],
    ['(?s)a.b', 'a\nb', true, true],
    ['a.b', 'a\nb', false, true], // RE2 `.` excludes \n ...
    ['a.b', 'a\rb', true, true], // ... but, unlike JavaScript's, not \r
    ['(?m)^b$', 'a\nb\nc', true, true],
    ['^b$', 'a\nb\nc', false, true],
    ['(?P<tier>gold|silver)', 'silver', true, true],
    ['\\Q.*+\\E$', 'x.*+', true, true],
    ['\\Q.*+\\E$', 'xyz', false, true],
    ['^[[:digit:]]+$', '2024', true, true],
    ['^[[:alpha:]_]+$', 'a_b', true, true],
    ['[]a]', ']', true, true], // RE2: a leading ] is a literal
    ['\\Afoo', 'foo', true, true],
    ['(?m)\\Afoo', 'x\nfoo', false, true],
    ['foo\\z', 'foo\n', false, true],
    ['\\x{41}', 'A', true, true],
    ['\\x{263A}', '\u263a', true, true],
    ['(?i:ab)c', 'ABc', true, false],
    ['(a)\\1', 'aa', true, false], // backreference: JavaScript only, backtracking engine
    ['(a+)+$', `${'a'.repeat(40)}!`, false, true], // catastrophic for a backtracking engine; instant here
  ];
  for (const [pattern, input, matches, linear] of cases) {
    it(`${pattern} ${matches ? 'matches' : 'does not match'} ${JSON.stringify(input)}`, () => {
      const { regex, linear: isLinear } = compiled(pattern);
      assert.equal(regex.test(input), matches);
      assert.equal(isLinear, linear, 'linear engine');
    });
  }

  const invalid: [string, string][] = [
    ['(', 'Unterminated group'],
    ['a)', 'Unmatched'],
    ['[a', 'missing closing ]'],
    ['*a', 'Nothing to repeat'],
    ['\\pL', 'Unicode character classes'],
    ['(?U)a+', 'ungreedy'],
    ['a(?i)b', 'only supported at the start'],
    ['\\e', 'invalid escape sequence \\e'],
    ['[[:foo:]]', 'unknown POSIX class'],
    ['\\x{1F600}', 'above U+FFFF'],
    ['abc\\', 'trailing backslash'],
  ];
  for (const [pattern, reason] of invalid) {
    it(`${pattern} is rejected: ${reason}`, () => {
      const result = compileMatchRegex(pattern);
      assert.ok(!result.ok, 'should not compile');
      assert.ok(result.error.includes(reason), result.error);
      assert.ok(result.error.startsWith(`invalid regex ${JSON.stringify(pattern)}`), result.error);
    });
  }
});
