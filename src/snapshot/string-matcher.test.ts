import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileHeaderMatch, compileStringMatch } from './string-matcher.ts';

/** A header value as Node's HTTP parser hands it over: one Latin-1 character per byte received. */
const asReceived = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

describe('header matches see the UTF-8 text Go sees', () => {
  it('exact and prefix compare the bytes', () => {
    assert.equal(compileHeaderMatch({ exact: 'café' })(asReceived('café')), true);
    assert.equal(compileHeaderMatch({ exact: 'café' })(asReceived('cafe')), false);
    assert.equal(compileHeaderMatch({ prefix: 'zürich-' })(asReceived('zürich-1')), true);
  });
  it('a regex matches code points, not Latin-1 characters', () => {
    assert.equal(compileHeaderMatch({ regex: '^.$' })(asReceived('\u{1F600}')), true);
    assert.equal(compileHeaderMatch({ regex: '^.{4}$' })(asReceived('\u{1F600}')), false);
    assert.equal(compileHeaderMatch({ regex: '^caf\\x{e9}$' })(asReceived('café')), true);
    assert.equal(compileHeaderMatch({ regex: '^\\pL+$' })(asReceived('日本')), true);
    assert.equal(compileHeaderMatch({ regex: '^gold$' })('gold'), true);
  });
  it('an ASCII value is matched as it is', () => {
    assert.equal(compileHeaderMatch({ regex: '^\\s$' })('\v'), false);
    assert.equal(compileHeaderMatch({})('anything'), true);
  });
  it('a URI is already text', () => {
    assert.equal(compileStringMatch({ regex: '^/v1/.$' })('/v1/\u{1F600}'), true);
  });
});
