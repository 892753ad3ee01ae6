// Translates Go RE2 regex syntax into an equivalent JavaScript RegExp source (without the `u` flag,
// which V8's linear engine does not support). Only the differences that change meaning are handled;
// RE2 constructs JavaScript cannot express are rejected rather than silently matching something else.

export type TranslatedPattern = { ok: true; source: string; flags: string } | { ok: false; error: string };

interface FlagState {
  multiline: boolean;
  dotAll: boolean;
}

type Step = { ok: true; text: string; next: number } | { ok: false; error: string };

/** RE2's ASCII POSIX classes, valid inside a bracket expression. */
const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** Letter escapes RE2 and JavaScript (non-unicode mode) read the same way. */
const SHARED_LETTER_ESCAPES = 'fntrvdDsSwWbB';

const LEADING_FLAG_GROUP = /^\(\?([a-zA-Z]+)\)/;
const FLAG_GROUP = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/;

const fail = (error: string): { ok: false; error: string } => ({ ok: false, error });

export function translateRe2Pattern(pattern: string): TranslatedPattern {
  let flags = '';
  let body = pattern;
  const leading = LEADING_FLAG_GROUP.exec(pattern);
  if (leading) {
    const letters = leading[1] ?? '';
    for (const flag of letters) {
      const problem = unsupportedFlag(flag);
      if (problem) return fail(problem);
      if (!flags.includes(flag)) flags += flag;
    }
    body = pattern.slice(leading[0].length);
  }
  const translated = translateBody(body, { multiline: flags.includes('m'), dotAll: flags.includes('s') });
  return translated.ok ? { ok: true, source: translated.text, flags } : translated;
}

function unsupportedFlag(flag: string): string | undefined {
  if (flag === 'U') return 'the RE2 flag U (ungreedy) is not supported';
  if (!'ims'.includes(flag)) return `unknown flag ${JSON.stringify(flag)}`;
  return undefined;
}

function translateBody(src: string, initial: FlagState): Step {
  let out = '';
  let state = initial;
  const enclosing: FlagState[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    let step: Step;
    if (c === '\\') {
      step = translateEscape(src, i, false, state);
    } else if (c === '[') {
      step = translateClass(src, i, state);
    } else if (c === '(') {
      enclosing.push(state);
      const group = translateGroupOpen(src, i, state);
      if (!group.ok) return group;
      state = group.state;
      step = group;
    } else if (c === ')') {
      state = enclosing.pop() ?? state;
      step = { ok: true, text: c, next: i + 1 };
    } else if (c === '.' && !state.dotAll) {
      // RE2's `.` excludes only \n; JavaScript's also excludes \r, U+2028 and U+2029.
      step = { ok: true, text: '[^\\n]', next: i + 1 };
    } else {
      step = { ok: true, text: c ?? '', next: i + 1 };
    }
    if (!step.ok) return step;
    out += step.text;
    i = step.next;
  }
  return { ok: true, text: out, next: i };
}

function translateGroupOpen(src: string, i: number, state: FlagState): (Step & { ok: false }) | { ok: true; text: string; next: number; state: FlagState } {
  if (src.startsWith('(?P<', i)) return { ok: true, text: '(?<', next: i + 4, state };
  const flagGroup = FLAG_GROUP.exec(src.slice(i));
  if (!flagGroup || (flagGroup[1] === '' && flagGroup[2] === undefined)) return { ok: true, text: '(', next: i + 1, state };
  const [text, on = '', off = '', terminator] = flagGroup;
  if (terminator === ')') return fail(`flags ${text} are only supported at the start of the pattern; use (?${on}:...) for part of it`);
  const next = { ...state };
  for (const [letters, value] of [[on, true], [off, false]] as const) {
    for (const flag of letters) {
      const problem = unsupportedFlag(flag);
      if (problem) return fail(problem);
      if (flag === 'm') next.multiline = value;
      if (flag === 's') next.dotAll = value;
    }
  }
  return { ok: true, text, next: i + text.length, state: next };
}

function translateEscape(src: string, i: number, inClass: boolean, state: FlagState): Step {
  const letter = src[i + 1];
  const done = (text: string, next = i + 2): Step => ({ ok: true, text, next });
  if (letter === undefined) return fail('trailing backslash at end of pattern');
  switch (letter) {
    case 'Q': {
      const end = src.indexOf('\\E', i + 2);
      const literal = end < 0 ? src.slice(i + 2) : src.slice(i + 2, end);
      return done(escapeLiteral(literal, inClass), end < 0 ? src.length : end + 2);
    }
    case 'E':
      return done('');
    case 'A':
      if (inClass) return fail('\\A is not allowed inside [...]');
      return done(state.multiline ? '(?<![\\s\\S])' : '^');
    case 'z':
      if (inClass) return fail('\\z is not allowed inside [...]');
      return done(state.multiline ? '(?![\\s\\S])' : '$');
    case 'a':
      return done('\\x07');
    case 'x':
      return src[i + 2] === '{' ? translateBracedHex(src, i) : done('\\x');
    case 'p':
    case 'P':
      return fail('Unicode character classes (\\p, \\P) are not supported');
    case 'C':
      return fail('\\C (any byte) is not supported');
  }
  if (/[A-Za-z]/.test(letter) && !SHARED_LETTER_ESCAPES.includes(letter)) return fail(`invalid escape sequence \\${letter}`);
  return done(`\\${letter}`);
}

/** RE2's \x{10FFFF} form; JavaScript without the `u` flag only has \xHH and \uHHHH. */
function translateBracedHex(src: string, i: number): Step {
  const end = src.indexOf('}', i + 3);
  const hex = end < 0 ? '' : src.slice(i + 3, end);
  if (!/^[0-9A-Fa-f]{1,6}$/.test(hex)) return fail('invalid escape sequence \\x{...}');
  const codePoint = parseInt(hex, 16);
  if (codePoint > 0xffff) return fail(`\\x{${hex}}: code points above U+FFFF are not supported`);
  const text = codePoint <= 0xff ? `\\x${codePoint.toString(16).padStart(2, '0')}` : `\\u${codePoint.toString(16).padStart(4, '0')}`;
  return { ok: true, text, next: end + 1 };
}

function translateClass(src: string, start: number, state: FlagState): Step {
  let out = '[';
  let i = start + 1;
  if (src[i] === '^') {
    out += '^';
    i++;
  }
  // In RE2 a `]` right after `[` or `[^` is a literal; in JavaScript `[]` is an empty class.
  if (src[i] === ']') {
    out += '\\]';
    i++;
  }
  while (i < src.length && src[i] !== ']') {
    if (src.startsWith('[:', i)) {
      const end = src.indexOf(':]', i + 2);
      if (end >= 0) {
        const name = src.slice(i + 2, end);
        if (name.startsWith('^')) return fail(`negated POSIX class [:${name}:] is not supported`);
        const ranges = POSIX_CLASSES[name];
        if (ranges === undefined) return fail(`unknown POSIX class [:${name}:]`);
        out += ranges;
        i = end + 2;
        continue;
      }
    }
    if (src[i] === '\\') {
      const step = translateEscape(src, i, true, state);
      if (!step.ok) return step;
      out += step.text;
      i = step.next;
      continue;
    }
    out += src[i] === '[' ? '\\[' : src[i];
    i++;
  }
  if (i >= src.length) return fail('missing closing ]');
  return { ok: true, text: `${out}]`, next: i + 1 };
}

function escapeLiteral(literal: string, inClass: boolean): string {
  return literal.replace(inClass ? /[\\\][^-]/g : /[\\^$.|?*+()[\]{}/]/g, '\\$&');
}
