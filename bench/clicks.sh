#!/usr/bin/env bash
# Click links, measured two ways in one run:
#  1. the scanner filter: the simulated week of 10,000 readers (sweeping
#     gateways with the published timing, Safe Links' second look, HEAD
#     prefetchers) through serve's classifier — scanners recognized, readers
#     misjudged, per-item error (examples/click_replay.rs);
#  2. `missive serve` on loopback with wrk: click redirects per second
#     (every request from another client address, through all the issue's
#     links: each judged and counted), then one-click unsubscribes per
#     second (every request a new address, appended and fsynced before its
#     200), against the same server. Afterwards the counts log must add up
#     to every click wrk made: none lost, none doubled.
# Usage: bench/clicks.sh [SECONDS] [CONNECTIONS]   (defaults 10 and 64)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-64}"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin missive --example click_replay

echo "== the scanner filter, on 10,000 simulated readers"
target/release/examples/click_replay 10000

work="$PWD/bench/work/clicks"
rm -rf "$work" && mkdir -p "$work/outbox" "$work/issues"
cp issues/2026-11-27-tides-and-timetables.toml "$work/issues/"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
cat > "$work/missive.toml" <<TOML
[newsletter]
name = "The Slow Commute"
from = "Matt Example <matt@example.com>"
list_id = "The Slow Commute <weekly.slowcommute.example.com>"
[unsubscribe]
url = "https://slowcommute.example.com/unsubscribe?email={email}&token={token}"
[sending]
transport = "file"
outbox = "outbox"
subscribers = "subscribers.csv"
[clicks]
behind_proxy = true
TOML
printf 'email,name\nada@example.com,Ada\n' > "$work/subscribers.csv"
export MISSIVE_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef
(cd "$work" && "$OLDPWD/target/release/missive" send issues/2026-11-27-tides-and-timetables.toml --yes >/dev/null)
# The issue went out an hour ago (a click right after sending is a scanner's).
python3 - "$work" <<'PY'
import datetime, email, glob, json, re, sys
work = sys.argv[1]
path = glob.glob(f"{work}/.missive/clicks/*.waves")[0]
lines = []
for line in open(path):
    v = json.loads(line)
    at = datetime.datetime.fromisoformat(v["at"].replace("Z", "+00:00")[:26] + "+00:00")
    v["at"] = (at - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines.append(json.dumps(v))
open(path, "w").write("\n".join(lines) + "\n")
message = email.message_from_binary_file(open(glob.glob(f"{work}/outbox/*.eml")[0], "rb"))
html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
links = [h[h.index("/c/"):] for h in re.findall(r'href="([^"]*)"', html) if "/c/" in h and "aria" not in h]
open(f"{work}/links.txt", "w").write("\n".join(links[1:]) + "\n")  # the honeypot is the first
PY
(cd "$work" && exec "$OLDPWD/target/release/missive" serve --bind 127.0.0.1:"$port" --site . > serve.log 2>&1) &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 0.5

cat > "$work/clicks.lua" <<'LUA'
local links = {}
for line in io.lines(os.getenv("LINKS")) do links[#links + 1] = line end
local n = 0
function setup(thread) thread:set("id", n); n = n + 1 end
local i = 0
function request()
  i = i + 1
  -- Each request from another reader (the proxy's X-Forwarded-For), with a browser.
  local ip = string.format("10.%d.%d.%d", i % 256, math.floor(i / 256) % 256, id + 1)
  return wrk.format("GET", links[i % #links + 1], {
    ["X-Forwarded-For"] = ip,
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0" })
end
function done(summary, latency, requests)
  io.stderr:write(string.format("TOTAL %d\n", summary.requests))
end
LUA
echo "== click redirects: each from another reader, judged and counted"
LINKS="$work/links.txt" wrk -t2 -c"$conns" -d"${secs}s" -s "$work/clicks.lua" "http://127.0.0.1:$port" \
  2> "$work/clicks.total" | tee "$work/clicks.txt"

. bench/unsubscribes.sh 400000

kill -TERM $server && wait $server || true
trap - EXIT
python3 - "$work" "$conns" <<'PY'
import json, re, sys
work = sys.argv[1]
def rate(f):
    text = open(f"{work}/{f}").read()
    assert "Non-2xx" not in text or f == "clicks.txt", f"{f}: some requests were refused"
    return float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
made = int(re.search(r"TOTAL (\d+)", open(f"{work}/clicks.total").read()).group(1))
counted = {}
for line in open(f"{work}/.missive/clicks/counts.jsonl"):
    v = json.loads(line)
    counted[v["verdict"]] = counted.get(v["verdict"], 0) + v["clicks"]
total = sum(counted.values())
c, u = rate("clicks.txt"), rate("unsubscribe.txt")
print(f"clicks:       {c:.0f}/s (redirects; {made} made, {total} counted: {counted})")
print(f"unsubscribes: {u:.0f}/s (each fsynced before its 200)")
print(f"ratio:        {c / u:.2f} click redirects for each unsubscribe in the same time")
# wrk counts the answers it read; the requests still on their way when it
# stopped (one a connection at most) were answered and counted too.
conns = int(sys.argv[2])
assert made <= total <= made + conns, f"the counts log holds {total} clicks; wrk made {made} (+ up to {conns})"
PY
