-- wrk script for bench/load.py: each connection posts pre-signed platform webhooks.
--
-- bench/load.py writes one file of requests per wrk thread (KANSHA_LOAD_DIR/requests-<n>.tsv:
-- path, signature header, signature, body; tab-separated, one request a line). Each thread
-- cycles through its own file, so no request is sent twice unless a thread runs out (counted as
-- `wrapped`). Every response's status is counted, and the delivery id of every 2xx answer
-- ({"stored": true, "id": N}) is written to KANSHA_LOAD_DIR/acked-<n>.txt for the count check.
-- Latency percentiles are wrk's own per-request measurements.

local dir = os.getenv("KANSHA_LOAD_DIR")
-- KANSHA_LOAD_PACE_MS > 0: each connection waits that long before each request (an offered
-- rate of about connections * 1000 / (pace + latency) per second instead of "as fast as the
-- server answers"); wrk's latencies do not include the wait.
local pace = tonumber(os.getenv("KANSHA_LOAD_PACE_MS") or "0")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("n", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

-- Globals, so that done() can read them from each thread (thread:get reads globals only).
requests, acked, statuses = {}, {}, {}
next_index, wrapped, stored_false = 1, 0, 0

function init(args)
  local file = assert(io.open(dir .. "/requests-" .. n .. ".tsv", "r"))
  for line in file:lines() do
    local path, header, signature, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {["Content-Type"] = "application/json", [header] = signature}
    requests[#requests + 1] = wrk.format("POST", path, headers, body)
  end
  file:close()
end

function request()
  local r = requests[next_index]
  next_index = next_index + 1
  if next_index > #requests then
    next_index = 1
    wrapped = wrapped + 1
  end
  return r
end

if pace > 0 then
  function delay()
    return pace
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 200 and status < 300 then
    local id = body:match('"id":%s*(%d+)')
    if id then acked[#acked + 1] = id end
    if body:find('"stored":%s*false') then stored_false = stored_false + 1 end
  end
end

function done(summary, latency, requests_)
  local total = {}
  local wrapped_all, stored_false_all = 0, 0
  for _, thread in ipairs(threads) do
    local out = assert(io.open(dir .. "/acked-" .. thread:get("n") .. ".txt", "w"))
    out:write(table.concat(thread:get("acked"), "\n"))
    out:close()
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
    wrapped_all = wrapped_all + thread:get("wrapped")
    stored_false_all = stored_false_all + thread:get("stored_false")
  end
  local out = assert(io.open(dir .. "/summary.txt", "w"))
  out:write(string.format("requests %d\nduration_us %d\nbytes %d\n", summary.requests,
                          summary.duration, summary.bytes))
  for name, count in pairs(summary.errors) do
    out:write(string.format("error_%s %d\n", name, count))
  end
  for status, count in pairs(total) do
    out:write(string.format("status_%d %d\n", status, count))
  end
  out:write(string.format("wrapped %d\nstored_false %d\n", wrapped_all, stored_false_all))
  for _, p in ipairs({50, 90, 95, 99, 99.9}) do
    out:write(string.format("latency_p%s_us %d\n", p, latency:percentile(p)))
  end
  out:write(string.format("latency_max_us %d\nlatency_mean_us %.1f\n", latency.max,
                          latency.mean))
  out:close()
end
