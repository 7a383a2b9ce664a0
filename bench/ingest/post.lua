-- wrk script: POST 100-record NDJSON batches (~300-byte records) as 1,000 glideins.
-- Usage: wrk -t2 -c16 -d10s -s post.lua URL -- TOKENS_FILE THREADS [SEQ_BASE]
-- Every record is a new (glidein, seq): each glidein's seq counter only goes up.
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local tokens = {}
local seqs = {}
local mine = {}
local turn = 0
local words = {"validate", "cvmfs", "mount", "startd", "slot", "memory", "disk", "job",
  "condor", "glidein", "apptainer", "image", "ready", "claim", "network", "proxy"}

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    table.insert(tokens, line)
  end
  file:close()
  local nthreads = tonumber(args[2] or "2")
  local base = tonumber(args[3] or "0")  -- each run's seqs start above the last run's
  for i = 1, #tokens do
    if (i - 1) % nthreads == tid then
      table.insert(mine, i)
      seqs[i] = base
    end
  end
  math.randomseed(tid + 1)
end

-- Twelve words, then what real pilot records carry that changes from one to the next
-- (an id, a pid, a duration, a size, a path): about 5x compressible in a batch, as
-- glidein logs are, so that the store's compression is not flattered.
local function message(n)
  local parts = {}
  for k = 1, 12 do
    parts[k] = words[math.random(#words)]
  end
  return string.format("%s id=%08x%08x pid=%d took %.3fs rss=%dKiB path=/var/lib/condor/execute/dir_%d",
    table.concat(parts, " "), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff),
    math.random(1, 4194304), math.random(0, 99999) / 1000, math.random(1, 8000000),
    math.random(1, 99999))
end

function request()
  turn = turn % #mine + 1
  local g = mine[turn]
  local lines = {}
  local base = seqs[g]
  for k = 1, 100 do
    local seq = base + k
    local level = (seq % 50 == 0) and "error" or "info"
    lines[k] = string.format(
      '{"seq":%d,"ts":"2026-01-01T00:%02d:%02d.%03dZ","level":"%s","event":"bench.step",' ..
      '"msg":"%s","host":"wn%04d.example.org","slot":%d}',
      seq, math.floor(seq / 60000) % 60, math.floor(seq / 1000) % 60, seq % 1000, level,
      message(seq), g, k % 8)
  end
  seqs[g] = base + 100
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-ndjson",
    ["Authorization"] = "Bearer " .. tokens[g],
  }, table.concat(lines, "\n") .. "\n")
end

local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("WRK requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
