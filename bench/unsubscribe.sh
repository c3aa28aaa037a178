#!/usr/bin/env bash
# Measures `missive serve`'s one-click unsubscribes per second on loopback
# with wrk: first every request a new address (each one appended and fsynced
# before the 200), then the same addresses again (already recorded).
# Usage: bench/unsubscribe.sh [SECONDS] [CONNECTIONS]   (defaults 10 and 16)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-16}"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin missive
work="$PWD/bench/work/unsubscribe"
rm -rf "$work" && mkdir -p "$work/site"
cp missive.toml subscribers.example.csv "$work/"
export MISSIVE_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && exec "$OLDPWD/target/release/missive" serve --bind 127.0.0.1:"$port" --site site > serve.log 2>&1) &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 0.5

# 200,000 addresses with their tokens; each wrk thread takes its own share.
python3 - "$work/pairs.txt" <<'PY'
import hmac, hashlib, os, sys
secret = os.environ["MISSIVE_UNSUBSCRIBE_SECRET"].encode()
with open(sys.argv[1], "w") as f:
    for i in range(200000):
        e = f"reader{i}@example.org"
        f.write("%s %s\n" % (e.replace("@", "%40"), hmac.new(secret, e.encode(), hashlib.sha256).hexdigest()))
PY
cat > "$work/post.lua" <<'LUA'
local pairs = {}
for line in io.lines(os.getenv("PAIRS")) do
  local email, token = line:match("(%S+) (%S+)")
  pairs[#pairs + 1] = { email, token }
end
local threads, n = 2, 0
function setup(thread) thread:set("id", n); n = n + 1 end
local i = 0
function request()
  i = i + 1
  local p = pairs[((i - 1) * threads + id) % #pairs + 1]
  return wrk.format("POST", "/unsubscribe?email=" .. p[1] .. "&token=" .. p[2],
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, "List-Unsubscribe=One-Click")
end
function done(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA
echo "== new addresses (append + fsync per request)"
PAIRS="$work/pairs.txt" wrk -t2 -c"$conns" -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$port" | tee "$work/new.txt"
recorded=$(($(wc -l < "$work/subscribers.example.suppressed.csv") - 1))
echo "== the same addresses again (already recorded)"
python3 - "$work" <<'PY'
import csv, sys
work = sys.argv[1]
recorded = {r[0] for r in list(csv.reader(open(f"{work}/subscribers.example.suppressed.csv")))[1:]}
with open(f"{work}/pairs.txt") as src, open(f"{work}/again.pairs", "w") as dst:
    for line in src:
        if line.split()[0].replace("%40", "@") in recorded:
            dst.write(line)
PY
PAIRS="$work/again.pairs" wrk -t2 -c"$conns" -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$port" | tee "$work/again.txt"
after=$(($(wc -l < "$work/subscribers.example.suppressed.csv") - 1))
python3 - "$work" "$recorded" "$after" <<'PY'
import csv, re, sys
work, recorded, after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def rate(f):
    text = open(f"{work}/{f}").read()
    assert "Non-2xx" not in text, f"{f}: some requests were refused"
    return float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
rows = list(csv.reader(open(f"{work}/subscribers.example.suppressed.csv")))
assert rows[0] == ["email", "time", "source"] and all(len(r) == 3 for r in rows[1:]), "malformed file"
assert len({r[0] for r in rows[1:]}) == len(rows) - 1, "an address recorded twice"
print(f"new addresses: {rate('new.txt'):.0f} unsubscribes/s ({recorded} recorded, each fsynced before its 200)")
print(f"repeats:       {rate('again.txt'):.0f} requests/s ({after - recorded} new lines: none expected)")
PY
