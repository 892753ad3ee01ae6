// A strict parser of the Prometheus text exposition format (version 0.0.4), the format vLLM and SGLang serve on
// /metrics. Written here because the one npm package for it (parse-prometheus-text-format, a 2019 port of
// prom2json) silently drops the last sample of a text without a final newline, accepts malformed values and
// unterminated label values as empty strings, and ships no types. Any deviation from the format is an error with
// its line number: a pod whose metrics cannot be read is treated as unknown, never as zeros. Given the names it
// needs, it skips every other line unread (an engine's page is mostly histogram buckets the router never reads, and
// scraping runs for every pod every second), and the format is checked on the lines it reads.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name: for histograms `<family>_bucket`, `<family>_sum` or `<family>_count`. */
  readonly name: string;
  /** Label name → value; an object without prototype. */
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestampMs: number | null;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: readonly Sample[];
}

export class PrometheusParseError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'PrometheusParseError';
    this.line = line;
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const FLOAT = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)$/;
const SPECIAL_FLOATS: ReadonlyMap<string, number> = new Map([
  ['nan', NaN], ['inf', Infinity], ['+inf', Infinity], ['-inf', -Infinity], ['infinity', Infinity], ['+infinity', Infinity], ['-infinity', -Infinity],
]);
const INTEGER = /^[+-]?\d+$/;

interface FamilyBuilder {
  name: string;
  type: MetricType;
  help: string;
  helpSeen: boolean;
  typeSeen: boolean;
  samples: Sample[];
}

/**
 * Parses an exposition. Families are keyed by name; histogram and summary samples sit under their family. With
 * `only`, a sample line is read only if its name is in the set and a HELP or TYPE line only if its family's name is
 * (so `x`, `x_sum`, `x_count` read a histogram's totals without its buckets); other lines are skipped unchecked.
 */
export function parsePrometheusText(text: string, only: ReadonlySet<string> | null = null): Map<string, MetricFamily> {
  const families = new Map<string, FamilyBuilder>();
  /** Families whose group of lines has ended; the format requires each family's lines to be contiguous. */
  const closed = new Set<string>();
  let current: FamilyBuilder | null = null;

  const enter = (name: string, lineNo: number): FamilyBuilder => {
    if (current !== null && current.name === name) return current;
    if (closed.has(name)) throw new PrometheusParseError(lineNo, `lines of metric family ${name} are not contiguous`);
    if (current !== null) closed.add(current.name);
    let family = families.get(name);
    if (family === undefined) {
      family = { name, type: 'untyped', help: '', helpSeen: false, typeSeen: false, samples: [] };
      families.set(name, family);
    }
    current = family;
    return family;
  };

  let start = 0;
  let lineNo = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const lineStart = start;
    start = end + 1;
    if (only !== null) {
      const name = lineName(text, lineStart, end);
      if (!only.has(name)) {
        // Another family's line ends the group of the family being read, as it would if it were read.
        const reading = current as FamilyBuilder | null; // set by enter(), which TypeScript does not follow
        if (reading !== null && name !== '' && !isSampleOf(name, reading.name)) {
          closed.add(reading.name);
          current = null;
        }
        continue;
      }
    }
    let line = text.slice(lineStart, end);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      parseComment(line, lineNo, enter);
      continue;
    }
    const sample = parseSampleLine(line, lineNo);
    const familyName = familyOf(sample.name, families, current);
    const family = enter(familyName, lineNo);
    family.samples.push(sample);
  }

  const out = new Map<string, MetricFamily>();
  for (const f of families.values()) out.set(f.name, { name: f.name, type: f.type, help: f.help, samples: f.samples });
  return out;
}

/** `name` is the family's own sample or one of its histogram/summary series. */
function isSampleOf(name: string, family: string): boolean {
  if (name === family) return true;
  if (!name.startsWith(family)) return false;
  const suffix = name.slice(family.length);
  return suffix === '_bucket' || suffix === '_sum' || suffix === '_count';
}

/**
 * The name on the line text[start, end): a sample's name, or a HELP/TYPE comment's family name; '' for a blank line
 * or any other comment. Nothing is checked.
 */
function lineName(text: string, start: number, end: number): string {
  let i = start;
  if (text.charCodeAt(i) === 0x23 /* # */) {
    i++;
    while (i < end && isBlank(text.charCodeAt(i))) i++;
    if (!text.startsWith('HELP', i) && !text.startsWith('TYPE', i)) return '';
    i += 4;
    const afterKeyword = i;
    while (i < end && isBlank(text.charCodeAt(i))) i++;
    if (i === afterKeyword) return '';
  }
  const nameStart = i;
  while (i < end && !isBlank(text.charCodeAt(i)) && text.charCodeAt(i) !== 0x7b /* { */ && text.charCodeAt(i) !== 0x0d) i++;
  return text.slice(nameStart, i);
}

function isBlank(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

function parseComment(line: string, lineNo: number, enter: (name: string, lineNo: number) => FamilyBuilder): void {
  const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
  if (m === null) return; // any other comment
  const [, keyword, name, rest = ''] = m;
  if (!METRIC_NAME.test(name)) throw new PrometheusParseError(lineNo, `invalid metric name ${JSON.stringify(name)}`);
  const family = enter(name, lineNo);
  if (keyword === 'HELP') {
    if (family.helpSeen) throw new PrometheusParseError(lineNo, `second HELP line for ${name}`);
    family.helpSeen = true;
    family.help = unescapeHelp(rest, lineNo);
    return;
  }
  const type = rest.trim();
  if (!TYPES.has(type)) throw new PrometheusParseError(lineNo, `unknown metric type ${JSON.stringify(type)} for ${name}`);
  if (family.typeSeen) throw new PrometheusParseError(lineNo, `second TYPE line for ${name}`);
  if (family.samples.length > 0) throw new PrometheusParseError(lineNo, `TYPE line for ${name} after its samples`);
  family.typeSeen = true;
  family.type = type as MetricType;
}

/** The family a sample belongs to: `x_bucket`/`x_sum`/`x_count` join the histogram or summary `x` being read. */
function familyOf(sampleName: string, families: ReadonlyMap<string, FamilyBuilder>, current: FamilyBuilder | null): string {
  if (current !== null && sampleName.startsWith(current.name) && sampleName.length > current.name.length) {
    const suffix = sampleName.slice(current.name.length);
    if (current.type === 'histogram' && (suffix === '_bucket' || suffix === '_sum' || suffix === '_count')) return current.name;
    if (current.type === 'summary' && (suffix === '_sum' || suffix === '_count')) return current.name;
  }
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = families.get(sampleName.slice(0, -suffix.length));
    if (base !== undefined && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base.name;
  }
  return sampleName;
}

function parseSampleLine(line: string, lineNo: number): Sample {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ' && line[i] !== '\t') i++;
  const name = line.slice(0, i);
  if (!METRIC_NAME.test(name)) throw new PrometheusParseError(lineNo, `invalid metric name ${JSON.stringify(name)}`);
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  if (line[i] === '{') i = parseLabels(line, i + 1, labels, lineNo);
  const rest = line.slice(i).trim().split(/[ \t]+/);
  if (rest.length === 0 || rest[0] === '') throw new PrometheusParseError(lineNo, `sample ${name} has no value`);
  if (rest.length > 2) throw new PrometheusParseError(lineNo, `unexpected text after the value of ${name}`);
  const value = parseFloatValue(rest[0]);
  if (value === null) throw new PrometheusParseError(lineNo, `invalid value ${JSON.stringify(rest[0])} for ${name}`);
  let timestampMs: number | null = null;
  if (rest.length === 2) {
    if (!INTEGER.test(rest[1])) throw new PrometheusParseError(lineNo, `invalid timestamp ${JSON.stringify(rest[1])} for ${name}`);
    timestampMs = Number(rest[1]);
  }
  return { name, labels, value, timestampMs };
}

/** Parses `name="value",…}` from `i` (just after `{`); returns the index after the closing brace. */
function parseLabels(line: string, i: number, labels: Record<string, string>, lineNo: number): number {
  const skipBlanks = (): void => {
    while (line[i] === ' ' || line[i] === '\t') i++;
  };
  for (;;) {
    skipBlanks();
    if (line[i] === '}') return i + 1;
    const nameStart = i;
    while (i < line.length && /[a-zA-Z0-9_]/.test(line[i])) i++;
    const labelName = line.slice(nameStart, i);
    if (!LABEL_NAME.test(labelName)) throw new PrometheusParseError(lineNo, `invalid label name at column ${nameStart + 1}`);
    skipBlanks();
    if (line[i] !== '=') throw new PrometheusParseError(lineNo, `expected "=" after label ${labelName}`);
    i++;
    skipBlanks();
    if (line[i] !== '"') throw new PrometheusParseError(lineNo, `expected a quoted value for label ${labelName}`);
    i++;
    let value = '';
    for (;;) {
      if (i >= line.length) throw new PrometheusParseError(lineNo, `unterminated value of label ${labelName}`);
      const c = line[i++];
      if (c === '"') break;
      if (c !== '\\') {
        value += c;
        continue;
      }
      const e = line[i++];
      if (e === '\\') value += '\\';
      else if (e === '"') value += '"';
      else if (e === 'n') value += '\n';
      else throw new PrometheusParseError(lineNo, `invalid escape in the value of label ${labelName}`);
    }
    if (labelName in labels) throw new PrometheusParseError(lineNo, `label ${labelName} given twice`);
    labels[labelName] = value;
    skipBlanks();
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new PrometheusParseError(lineNo, `expected "," or "}" after label ${labelName}`);
  }
}

function parseFloatValue(text: string): number | null {
  if (FLOAT.test(text)) return Number(text);
  return SPECIAL_FLOATS.get(text.toLowerCase()) ?? null;
}

function unescapeHelp(text: string, lineNo: number): string {
  if (!text.includes('\\')) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = text[++i];
    if (e === '\\') out += '\\';
    else if (e === 'n') out += '\n';
    else throw new PrometheusParseError(lineNo, 'invalid escape in HELP text');
  }
  return out;
}
