// Machine load and baseline drift: what every benchmark table states about the conditions it was measured in.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

export interface LoadSample {
  readonly at: string;
  /** 1, 5 and 15-minute load averages. */
  readonly loadavg: readonly [number, number, number];
  /** Runnable / total scheduling entities (the 4th field of /proc/loadavg), e.g. "3/412". */
  readonly runnable: string | null;
}

export function sampleLoad(): LoadSample {
  let runnable: string | null = null;
  try {
    runnable = readFileSync('/proc/loadavg', 'utf8').split(' ')[3] ?? null;
  } catch {
    // not Linux
  }
  const [one, five, fifteen] = loadavg();
  return { at: new Date().toISOString(), loadavg: [one, five, fifteen], runnable };
}

export function describeLoad(before: LoadSample, after: LoadSample, cores: number): string {
  const fmt = (s: LoadSample): string => `${s.loadavg.map((v) => v.toFixed(2)).join(' / ')}`;
  return `machine load (1/5/15-min loadavg, ${cores} cores): before ${fmt(before)}, after ${fmt(after)}`;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The largest relative distance of a value from the median: 0.2 means one run was 20 % off the median. */
export function driftFromMedian(values: readonly number[]): number {
  const m = median(values);
  if (!(m > 0)) return Number.POSITIVE_INFINITY;
  return Math.max(...values.map((v) => Math.abs(v - m) / m));
}

/** A configuration is repeated when one of its nginx baseline runs moved more than this from their median. */
export const BASELINE_DRIFT_LIMIT = 0.15;
