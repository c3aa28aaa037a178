#!/usr/bin/env bash
# Measures `missive serve` on loopback with wrk, in one run against one
# server: sign-ups per second (POST /subscribe, every request a new address,
# each pending sign-up appended and fsynced, and its confirmation spooled
# and fsynced, before its 303 — which no answer gets sooner than 100 ms
# after its request, so each connection makes at most 10 a second; the
# confirmation emails go to Postfix's smtp-sink in the background), then one-click
# unsubscribes per second (every request a new address, each appended and
# fsynced before its 200). Checks the log afterwards: well-formed, each
# address once.
# Usage: bench/signup.sh [SECONDS] [CONNECTIONS]   (defaults 10 and 16)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-16}"
if ! command -v wrk >/dev/null || ! command -v smtp-sink >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk postfix >/dev/null
fi
cargo build --release --quiet --bin missive
work="$PWD/bench/work/signup"
rm -rf "$work" && mkdir -p "$work/site"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
sink_port=$(free_port)
smtp-sink -u nobody 127.0.0.1:"$sink_port" 1024 &
sink=$!
cat > "$work/missive.toml" <<TOML
[newsletter]
name = "The Slow Commute"
from = "Matt Example <matt@example.com>"
[unsubscribe]
url = "https://slowcommute.example.com/unsubscribe?email={email}&token={token}"
[smtp]
host = "127.0.0.1"
port = $sink_port
security = "none"
[signup]
url = "https://slowcommute.example.com"
per_ip_per_hour = 10000000
TOML
printf 'email,name\n' > "$work/subscribers.csv"
export MISSIVE_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef
(cd "$work" && exec "$OLDPWD/target/release/missive" serve --bind 127.0.0.1:"$port" --site site > serve.log 2>&1) &
server=$!
trap 'kill $server $sink 2>/dev/null || true' EXIT
sleep 0.5

cat > "$work/signup.lua" <<'LUA'
local threads, n = 0, 0
function setup(thread) thread:set("id", n); n = n + 1 end
local i = 0
function request()
  i = i + 1
  return wrk.format("POST", "/subscribe", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "email=s" .. id .. "-" .. i .. "%40example.org&name=Reader")
end
LUA
echo "== sign-ups: a new address each (append + fsync before the 303)"
wrk -t2 -c"$conns" -d"${secs}s" -s "$work/signup.lua" "http://127.0.0.1:$port" | tee "$work/signup.txt"

. bench/unsubscribes.sh 200000

python3 - "$work" <<'PY'
import csv, re, sys
work = sys.argv[1]
def rate(f):
    text = open(f"{work}/{f}").read()
    assert "Non-2xx" not in text or f == "signup.txt", f"{f}: some requests were refused"
    return float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
rows = list(csv.reader(open(f"{work}/.missive/list-events.csv")))
assert rows[0] == ["email", "time", "event", "source", "detail", "issue", "message"], rows[0]
assert all(len(r) == 7 for r in rows[1:]), "malformed log"
pending = [r[0] for r in rows[1:] if r[2] == "pending"]
unsubscribed = [r[0] for r in rows[1:] if r[2] == "unsubscribed"]
assert len(set(pending)) == len(pending) and len(set(unsubscribed)) == len(unsubscribed), "an address twice"
s, u = rate("signup.txt"), rate("unsubscribe.txt")
print(f"sign-ups:     {s:.0f}/s ({len(pending)} recorded, each fsynced before its 303)")
print(f"unsubscribes: {u:.0f}/s ({len(unsubscribed)} recorded, each fsynced before its 200)")
print(f"ratio:        a sign-up takes {u / s:.2f}x the time of an unsubscribe")
PY
