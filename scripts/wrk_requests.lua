-- wrk script for scripts/benchlib.py: sends prebuilt raw HTTP requests and counts the accepted answers.
-- Arguments: <requests file: each request followed by a NUL byte> <threads> <offset> <marker>.
-- Thread t sends requests offset+t, offset+t+threads, ... (wrapping around the file); an answer is accepted
-- when it is a 200 whose body contains the marker. done() writes a JSON report to $WRK_REPORT.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  requests = {}
  for one in string.gmatch(data, "([^%z]+)%z") do
    requests[#requests + 1] = one
  end
  step, next_index, marker = tonumber(args[2]), tonumber(args[3]) + id, args[4]
  sent, accepted = 0, 0
end

function request()
  local one = requests[(next_index % #requests) + 1]
  next_index = next_index + step
  sent = sent + 1
  return one
end

function response(status, headers, body)
  if status == 200 and string.find(body, marker, 1, true) then
    accepted = accepted + 1
  end
end

function done(summary, latency, requests_)
  local sent_list, accepted_list = {}, {}
  for i, thread in ipairs(threads) do
    sent_list[i] = tostring(thread:get("sent"))
    accepted_list[i] = tostring(thread:get("accepted"))
  end
  local errors = summary.errors
  local report = string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, "sent": [%s], "accepted": [%s]}',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect + errors.read + errors.write + errors.timeout + errors.status,
    table.concat(sent_list, ","), table.concat(accepted_list, ","))
  local out = assert(io.open(os.getenv("WRK_REPORT"), "w"))
  out:write(report)
  out:close()
end
