-- wrk script for the proxy benchmark: POSTs one JSON body to /v1/completions and, when the run ends, prints one
-- machine-readable line ("WRK_JSON {...}") with the counts, the error counters and the latency percentiles in
-- microseconds. The runner (run.ts) parses that line instead of wrk's text summary.
--
-- Usage: wrk ... -s post.lua URL -- '<request body>'

function init(args)
  if args[1] == nil or args[1] == "" then
    error("post.lua needs the request body as its first script argument (wrk ... -- '<body>')")
  end
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/json"
end

-- No response() callback on purpose: defining one makes wrk hand every response to Lua, which costs wrk CPU on the
-- core it shares with the backend. wrk already counts status >= 400 in summary.errors.status.

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
