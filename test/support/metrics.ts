// Scraping the router's /metrics in tests: fetched over HTTP and parsed with the strict exposition-format parser,
// so a malformed exposition fails the test.
import { request } from 'undici';
import { parsePrometheusText, type MetricFamily, type Sample } from '../../src/engines/prometheus-text.ts';

export type Families = Map<string, MetricFamily>;

export async function scrape(metricsUrl: string): Promise<Families> {
  const res = await request(`${metricsUrl}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /metrics: ${res.statusCode} ${text}`);
  if (!String(res.headers['content-type']).startsWith('text/plain')) throw new Error(`content-type ${String(res.headers['content-type'])}`);
  return parsePrometheusText(text);
}

/** Samples named `sample` (default: the family's name) whose labels include every label given. */
export function samples(families: Families, family: string, labels: Record<string, string> = {}, sample = family): Sample[] {
  const found = families.get(family);
  if (found === undefined) return [];
  return found.samples.filter((s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the matching samples' values; 0 when none match. */
export function total(families: Families, family: string, labels: Record<string, string> = {}, sample = family): number {
  return samples(families, family, labels, sample).reduce((sum, s) => sum + s.value, 0);
}

/** The one matching sample's value; throws when there is not exactly one. */
export function single(families: Families, family: string, labels: Record<string, string> = {}, sample = family): number {
  const found = samples(families, family, labels, sample);
  if (found.length !== 1) throw new Error(`${sample}${JSON.stringify(labels)}: ${found.length} samples: ${JSON.stringify(found)}`);
  return found[0].value;
}
