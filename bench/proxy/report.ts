// Turning measured runs into the result rows, the printed table and the target checks.
import type { PeerName } from '../peers/peers.ts';
import type { WrkErrors, WrkResult } from './wrk.ts';

export type Target = 'direct' | 'nginx' | 'switchyard' | 'node-raw' | PeerName;
export type Mode = 'json' | 'sse';

export interface Measurement {
  readonly target: Target;
  readonly mode: Mode;
  readonly connections: number;
  readonly threads: number;
  readonly wrk: WrkResult;
  /** CPU seconds (user, system) the proxy process tree used during the measured run; null for `direct` (no proxy). */
  readonly proxyCpu: { readonly userS: number; readonly systemS: number } | null;
  /** The proxy's resident set size (VmRSS) right after the run, in MB. */
  readonly proxyRssMb: number | null;
}

export interface ResultRow {
  readonly target: Target;
  readonly mode: Mode;
  readonly connections: number;
  readonly threads: number;
  readonly requests: number;
  readonly durationS: number;
  readonly requestsPerS: number;
  readonly bytesPerResponse: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number };
  /** p50 / p99 minus the direct run's at the same mode and connections. */
  readonly addedP50Ms: number | null;
  readonly addedP99Ms: number | null;
  readonly proxyCpuS: number | null;
  readonly proxyRssAfterMb: number | null;
  /** Proxy CPU per request, in microseconds: user space and kernel. */
  readonly proxyUserUsPerRequest: number | null;
  readonly proxySystemUsPerRequest: number | null;
  /** proxyCpuS / duration: how much of its core the proxy used. */
  readonly proxyCores: number | null;
  readonly requestsPerCpuS: number | null;
  /** requestsPerCpuS / nginx's at the same mode and connections. */
  readonly ratioToNginx: number | null;
  readonly errors: WrkErrors;
}

export interface TargetCheck {
  readonly name: string;
  readonly value: number | null;
  readonly limit: string;
  readonly met: boolean;
}

const ms = (us: number): number => us / 1000;

/**
 * `nginxBaseline`: nginx's req/CPU-s per `${mode}/${connections}` to divide by (the median of that configuration's
 * nginx runs); without it, the first nginx measurement of the configuration.
 */
export function buildRows(measurements: readonly Measurement[], nginxBaseline?: ReadonlyMap<string, number>): ResultRow[] {
  const find = (target: Target, mode: Mode, connections: number): Measurement | undefined =>
    measurements.find((m) => m.target === target && m.mode === mode && m.connections === connections);
  return measurements.map((m) => {
    const durationS = m.wrk.durationUs / 1e6;
    const direct = find('direct', m.mode, m.connections);
    const nginx = find('nginx', m.mode, m.connections);
    const cpuS = (x: Measurement | undefined): number | null => (x?.proxyCpu == null ? null : x.proxyCpu.userS + x.proxyCpu.systemS);
    const perCpu = (x: Measurement | undefined): number | null => {
      const s = cpuS(x);
      return x === undefined || s === null || s <= 0 ? null : x.wrk.requests / s;
    };
    const own = perCpu(m);
    const proxyCpuS = cpuS(m);
    const perRequestUs = (seconds: number | undefined): number | null =>
      seconds === undefined || m.wrk.requests === 0 ? null : (seconds * 1e6) / m.wrk.requests;
    const nginxPerCpu = nginxBaseline?.get(`${m.mode}/${m.connections}`) ?? perCpu(nginx);
    const added = (key: 'p50' | 'p99'): number | null =>
      m.target === 'direct' || direct === undefined ? null : ms(m.wrk.latencyUs[key] - direct.wrk.latencyUs[key]);
    return {
      target: m.target,
      mode: m.mode,
      connections: m.connections,
      threads: m.threads,
      requests: m.wrk.requests,
      durationS,
      requestsPerS: m.wrk.requests / durationS,
      bytesPerResponse: m.wrk.requests > 0 ? m.wrk.bytes / m.wrk.requests : 0,
      latencyMs: {
        p50: ms(m.wrk.latencyUs.p50),
        p90: ms(m.wrk.latencyUs.p90),
        p99: ms(m.wrk.latencyUs.p99),
        max: ms(m.wrk.latencyUs.max),
        mean: ms(m.wrk.latencyUs.mean),
      },
      addedP50Ms: added('p50'),
      addedP99Ms: added('p99'),
      proxyCpuS,
      proxyRssAfterMb: m.proxyRssMb,
      proxyUserUsPerRequest: perRequestUs(m.proxyCpu?.userS),
      proxySystemUsPerRequest: perRequestUs(m.proxyCpu?.systemS),
      proxyCores: proxyCpuS === null ? null : proxyCpuS / durationS,
      requestsPerCpuS: own,
      ratioToNginx: own === null || nginxPerCpu === null ? null : own / nginxPerCpu,
      errors: m.wrk.errors,
    };
  });
}

export function checkTargets(rows: readonly ResultRow[], switchyardPeakRssMb: number, loadConnections: number): TargetCheck[] {
  const row = (mode: Mode, connections: number): ResultRow | undefined =>
    rows.find((r) => r.target === 'switchyard' && r.mode === mode && r.connections === connections);
  const atLeast = (name: string, value: number | null | undefined, limit: number, unit = 'x'): TargetCheck => ({
    name,
    value: value ?? null,
    limit: `>= ${limit}${unit}`,
    met: value !== null && value !== undefined && value >= limit,
  });
  const atMost = (name: string, value: number | null | undefined, limit: number, unit: string): TargetCheck => ({
    name,
    value: value ?? null,
    limit: `<= ${limit} ${unit}`,
    met: value !== null && value !== undefined && value <= limit,
  });
  return [
    atLeast(`non-streaming req/CPU-s vs nginx (c=${loadConnections})`, row('json', loadConnections)?.ratioToNginx, 0.33),
    atLeast(`streaming req/CPU-s vs nginx (c=${loadConnections})`, row('sse', loadConnections)?.ratioToNginx, 0.8),
    atMost('non-streaming p50 latency added over direct (c=1)', row('json', 1)?.addedP50Ms, 0.25, 'ms'),
    atMost('streaming p50 latency added over direct (c=1)', row('sse', 1)?.addedP50Ms, 0.25, 'ms'),
    atMost('peak RSS (VmHWM)', switchyardPeakRssMb, 150, 'MB'),
  ];
}

function fmt(value: number | null, digits: number): string {
  if (value === null || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Like fmt, with an explicit + on positive values (added latency). */
function signed(value: number | null, digits: number): string {
  return value !== null && value > 0 ? `+${fmt(value, digits)}` : fmt(value, digits);
}

/** The results as a Markdown table (readable in a terminal too). */
export function formatTable(rows: readonly ResultRow[], peakRssMb: ReadonlyMap<Target, number>, notRun: ReadonlyMap<Target, string> = new Map()): string {
  const header = ['target', 'mode', 'conns', 'req/s', 'p50 ms', 'p99 ms', '+p50 ms', '+p99 ms', 'proxy CPU', 'req/CPU-s', 'vs nginx', 'peak RSS MB'];
  const lines = rows.map((r) => [
    r.target,
    r.mode,
    String(r.connections),
    fmt(r.requestsPerS, 0),
    fmt(r.latencyMs.p50, 3),
    fmt(r.latencyMs.p99, 3),
    signed(r.addedP50Ms, 3),
    signed(r.addedP99Ms, 3),
    r.proxyCores === null ? '—' : `${fmt(r.proxyCores, 2)} core`,
    fmt(r.requestsPerCpuS, 0),
    r.ratioToNginx === null ? '—' : `${fmt(r.ratioToNginx, 2)}x`,
    fmt(peakRssMb.get(r.target) ?? null, 1),
  ]);
  // A peer that could not be installed or started keeps its row, with a footnote giving the reason.
  const reasons = [...notRun].map(([target, reason], i) => ({ target, note: `(${i + 1})`, reason }));
  for (const { target, note } of reasons) {
    const measured = rows.some((r) => r.target === target);
    lines.push([target, '—', '—', `${measured ? 'failed' : 'not run'} ${note}`, ...header.slice(4).map(() => '—')]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const numeric = (i: number): boolean => i >= 2;
  const render = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  const footnotes = reasons.map(({ target, note, reason }) => `${note} ${target}: ${reason}`);
  return [render(header), rule, ...lines.map(render), ...(footnotes.length > 0 ? ['', ...footnotes] : [])].join('\n');
}

export function formatTargets(checks: readonly TargetCheck[]): string {
  return checks
    .map((c) => {
      const value = c.value === null ? 'no data' : c.limit.endsWith('x') ? `${c.value.toFixed(2)}x` : `${c.value.toFixed(c.limit.endsWith('MB') ? 1 : 3)}`;
      return `${c.met ? 'met    ' : 'NOT MET'}  ${c.name}: ${value} (target ${c.limit})`;
    })
    .join('\n');
}

/**
 * Proxy CPU per request split into user space and kernel, for the loaded runs; for streams also the SSE events
 * delivered per CPU-second (`sseEvents`: events per stream by target, as counted in the preflight).
 */
export function formatCpuSplit(rows: readonly ResultRow[], connections: number, sseEvents: ReadonlyMap<string, number> = new Map()): string {
  const loaded = rows.filter((r) => r.connections === connections && r.proxyCpuS !== null);
  const header = ['target', 'mode', 'user µs/req', 'sys µs/req', 'total µs/req', 'SSE events/CPU-s'];
  const lines = loaded.map((r) => {
    const totalUs = (r.proxyUserUsPerRequest ?? 0) + (r.proxySystemUsPerRequest ?? 0);
    const events = r.mode === 'sse' ? sseEvents.get(r.target) : undefined;
    return [
      r.target,
      r.mode,
      fmt(r.proxyUserUsPerRequest, 1),
      fmt(r.proxySystemUsPerRequest, 1),
      fmt(totalUs, 1),
      events === undefined || totalUs <= 0 ? '—' : fmt((events * 1e6) / totalUs, 0),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [render(header), rule, ...lines.map(render)].join('\n');
}
