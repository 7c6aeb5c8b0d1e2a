-- wrk script of the casting benchmark (bench/cast.py runs it).
--
--   wrk -s bench/cast.lua URL -- VOTERS_FILE PATH_PREFIX RATE THREADS
--
-- Every request is a PUT of a ballot for the next resident of VOTERS_FILE (lines "token cycle p1 p2 …":
-- a bearer token, the resident's open cycle and the projects on its ballot), choosing 1 to 3
-- projects, so many residents vote at once across several cycles and some revise their ballot.
-- RATE > 0 paces each thread at RATE / THREADS requests a second (slots at fixed intervals; a
-- request whose slot has passed goes at once, with no catch-up burst); 0 sends as fast as answered.
-- At the end one JSON line: requests, errors, and latency percentiles in microseconds.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end

local voters, prefix, interval, cursor, step, sent, next_slot

function init(args)
  voters = {}
  for line in io.lines(args[1]) do
    local fields = {}
    for field in line:gmatch("%S+") do fields[#fields + 1] = field end
    local projects = {}
    for i = 3, #fields do projects[#projects + 1] = fields[i] end
    voters[#voters + 1] = { header = "Bearer " .. fields[1], cycle = fields[2], projects = projects }
  end
  prefix = args[2]
  local rate, threads = tonumber(args[3]), tonumber(args[4])
  interval = rate > 0 and (1000 * threads / rate) or 0
  step, cursor, sent = threads, thread_id, 0
  next_slot = now_ms()
end

function delay()
  if interval == 0 then return 0 end
  local now = now_ms()
  local slot = math.max(next_slot, now)
  next_slot = slot + interval
  return math.floor(slot - now)
end

function request()
  local voter = voters[cursor]
  cursor = cursor + step
  if cursor > #voters then cursor = cursor - #voters end
  sent = sent + 1
  local n = #voter.projects
  local k = math.min(sent % 3 + 1, n)
  local chosen = {}
  for i = 0, k - 1 do chosen[#chosen + 1] = voter.projects[(sent + i) % n + 1] end
  local body = '{"projects": [' .. table.concat(chosen, ", ") .. ']}'
  return wrk.format("PUT", prefix .. "/cycles/" .. voter.cycle .. "/ballot",
    { ["Authorization"] = voter.header, ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
