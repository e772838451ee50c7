-- wrk script for B1: POST the body in KIZUKI_BODY (each "__UUID__" replaced by a
-- fresh id, so every event is new) or GET when it is empty, then print one JSON
-- line: requests, errors, rate, p50_ms, p99_ms.
local body_template = os.getenv("KIZUKI_BODY") or ""
local origin = os.getenv("KIZUKI_ORIGIN") or ""

local function uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%012x",
    math.random(0, 0xffffffff), math.random(0, 0xffff), math.random(0, 0xfff),
    0x8000 + math.random(0, 0x3fff), math.random(0, 0xffffffffffff))
end

function setup(thread)
  thread:set("seed", math.random(1, 2147483647))
end

function init(args)
  math.randomseed(seed or os.time())
end

function request()
  if body_template == "" then
    return wrk.format("GET", nil, {["User-Agent"] = "Mozilla/5.0 (kizuki-bench) Chrome"})
  end
  local body = body_template:gsub("__UUID__", uuid4)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "text/plain",
    ["Origin"] = origin,
    ["User-Agent"] = "Mozilla/5.0 (kizuki-bench) Chrome",
  }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "errors": %d, "rate": %.2f, "p50_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
