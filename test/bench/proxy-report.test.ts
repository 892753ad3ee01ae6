// The target checks of `npm run bench` (issue #13 item 4), from measurements through buildRows as the benchmark does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRows, checkTargets, formatTargets, type Measurement, type Mode, type Target } from '../../bench/proxy/report.ts';

/** A 10 s run of `requests` with the given p50/p99 (ms) and proxy CPU seconds (null: no proxy). */
function run(target: Target, mode: Mode, connections: number, requests: number, p50Ms: number, p99Ms: number, cpuS: number | null): Measurement {
  const us = (ms: number): number => ms * 1000;
  return {
    target,
    mode,
    connections,
    threads: connections === 1 ? 1 : 2,
    wrk: {
      requests,
      durationUs: 10e6,
      bytes: requests * 500,
      errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 },
      latencyUs: { min: us(p50Ms) / 2, max: us(p99Ms) * 2, mean: us(p50Ms), stdev: 1, p50: us(p50Ms), p75: us(p50Ms), p90: us(p99Ms), p99: us(p99Ms), p999: us(p99Ms) },
    },
    proxyCpu: cpuS === null ? null : { userS: cpuS * 0.7, systemS: cpuS * 0.3 },
    proxyRssMb: 100,
  };
}

/** Every configuration, with Switchyard's json c=64 CPU and p99s as given. */
function measurements(options: { switchyardJsonCpuS: number; switchyardJsonP99Ms: number; directSseP99Ms: number; raw: boolean }): Measurement[] {
  const list: Measurement[] = [];
  for (const mode of ['json', 'sse'] as const) {
    for (const c of [1, 64]) {
      const n = mode === 'json' ? (c === 1 ? 50_000 : 100_000) : c === 1 ? 3_000 : 20_000;
      list.push(run('direct', mode, c, n, 0.02, mode === 'sse' && c === 64 ? options.directSseP99Ms : 0.05, null));
      list.push(run('nginx', mode, c, n, 0.1, mode === 'sse' && c === 64 ? 40 : 0.5, mode === 'json' ? n * 16e-6 : n * 300e-6));
      const swCpu = mode === 'json' && c === 64 ? options.switchyardJsonCpuS : mode === 'json' ? n * 60e-6 : n * 450e-6;
      const swP99 = mode === 'json' && c === 64 ? options.switchyardJsonP99Ms : mode === 'sse' && c === 64 ? 45 : 1.5;
      list.push(run('switchyard', mode, c, n, 0.2, swP99, swCpu));
      if (options.raw) list.push(run('node-raw', mode, c, n, 0.15, 1, mode === 'json' ? n * 42e-6 : n * 420e-6));
    }
  }
  return list;
}

const byName = (checks: ReturnType<typeof checkTargets>, start: string): ReturnType<typeof checkTargets>[number] => {
  const found = checks.find((c) => c.name.startsWith(start));
  assert.ok(found, `no check named "${start}…" in ${checks.map((c) => c.name).join('; ')}`);
  return found;
};

describe('bench target checks', () => {
  it('holds non-streaming to the raw Node loop when it was measured, and to nginx always', () => {
    // Switchyard 80 µs per request against the raw loop's 42 and nginx's 16.
    const checks = checkTargets(buildRows(measurements({ switchyardJsonCpuS: 8, switchyardJsonP99Ms: 15, directSseP99Ms: 100, raw: true })), 140, 64);
    const raw = byName(checks, 'non-streaming req/CPU-s vs the raw Node loop');
    assert.ok(Math.abs((raw.value ?? 0) - 42 / 80) < 1e-9);
    assert.equal(raw.met, false);
    const nginx = byName(checks, 'non-streaming req/CPU-s vs nginx');
    assert.ok(Math.abs((nginx.value ?? 0) - 16 / 80) < 1e-9);
    assert.equal(nginx.met, false);

    // 40 µs per request beats both.
    const cheap = checkTargets(buildRows(measurements({ switchyardJsonCpuS: 4, switchyardJsonP99Ms: 15, directSseP99Ms: 100, raw: true })), 140, 64);
    assert.equal(byName(cheap, 'non-streaming req/CPU-s vs the raw Node loop').met, true);
    assert.equal(byName(cheap, 'non-streaming req/CPU-s vs nginx').met, true);

    // Without --raw-node there is nothing to compare with: no such check.
    const noRaw = checkTargets(buildRows(measurements({ switchyardJsonCpuS: 4, switchyardJsonP99Ms: 15, directSseP99Ms: 100, raw: false })), 140, 64);
    assert.equal(noRaw.some((c) => c.name.includes('raw Node loop')), false);
  });

  it('compares the p99 each proxy adds at c=64, or the whole p99 when direct was slower', () => {
    // json: nginx adds 0.45 ms, Switchyard 0.95 (within 2x) then 14.95 (not).
    const within = checkTargets(buildRows(measurements({ switchyardJsonCpuS: 8, switchyardJsonP99Ms: 1, directSseP99Ms: 100, raw: false })), 140, 64);
    const json = byName(within, 'non-streaming p99 latency added at c=64');
    assert.ok(Math.abs((json.value ?? 0) - 0.95 / 0.45) < 1e-9);
    assert.equal(json.met, false);
    const close = checkTargets(buildRows(measurements({ switchyardJsonCpuS: 8, switchyardJsonP99Ms: 0.9, directSseP99Ms: 100, raw: false })), 140, 64);
    assert.equal(byName(close, 'non-streaming p99 latency added at c=64').met, true);

    // sse: direct's p99 (100 ms) is above both proxies' (nginx 40, Switchyard 45): whole p99s, 1.125x.
    const sse = byName(within, 'streaming p99 latency at c=64');
    assert.match(sse.name, /whole p99/);
    assert.ok(Math.abs((sse.value ?? 0) - 45 / 40) < 1e-9);
    assert.equal(sse.met, true);

    // A quick direct run: "added" is meaningful again.
    const quickDirect = checkTargets(buildRows(measurements({ switchyardJsonCpuS: 8, switchyardJsonP99Ms: 1, directSseP99Ms: 30, raw: false })), 140, 64);
    const added = byName(quickDirect, 'streaming p99 latency added at c=64');
    assert.ok(Math.abs((added.value ?? 0) - 15 / 10) < 1e-9);
  });

  it('prints every check with its verdict, value and target', () => {
    const text = formatTargets(checkTargets(buildRows(measurements({ switchyardJsonCpuS: 8, switchyardJsonP99Ms: 15, directSseP99Ms: 100, raw: true })), 162.5, 64));
    assert.match(text, /^NOT MET {2}non-streaming req\/CPU-s vs the raw Node loop \(c=64\): 0\.53x \(target >= 1x\)$/m);
    assert.match(text, /^NOT MET {2}non-streaming p99 latency added at c=64 vs nginx's: 33\.22x \(target <= 2x\)$/m);
    assert.match(text, /^met {6}streaming p99 latency at c=64 vs nginx's \(whole p99: direct's p99 was the higher\): 1\.13x \(target <= 2x\)$/m);
    assert.match(text, /^NOT MET {2}peak RSS \(VmHWM\): 162\.5 \(target <= 150 MB\)$/m);
  });
});
