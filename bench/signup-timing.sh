#!/usr/bin/env bash
# Whether the time a sign-up's answer takes tells who is subscribed: one
# `missive serve` on loopback (confirmations to Postfix's smtp-sink), a
# list of 2,000 subscribed readers, and one client that signs up, one
# request at a time and in turns, a new address (a synced record, a sealed
# link, a spooled message) and an address already subscribed (nothing to
# do). Prints each kind's median and spread (interquartile range) and the
# difference of the medians as a share of the smaller spread: below 1, a
# probe cannot tell the two apart by their medians.
# Usage: bench/signup-timing.sh [PAIRS]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
pairs="${1:-300}"
if ! command -v smtp-sink >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
cargo build --release --quiet --bin missive
work="$PWD/bench/work/signup-timing"
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
url = "https://slowcommute.example.com/unsubscribe?token={token}"
[smtp]
host = "127.0.0.1"
port = $sink_port
security = "none"
[signup]
url = "https://slowcommute.example.com"
per_ip_per_hour = 10000000
TOML
python3 - "$work/subscribers.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("email,name\n")
    for i in range(2000):
        f.write(f"reader{i}@example.org,Reader {i}\n")
PY
export MISSIVE_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef
(cd "$work" && exec "$OLDPWD/target/release/missive" serve --bind 127.0.0.1:"$port" --site site > serve.log 2>&1) &
server=$!
trap 'kill $server $sink 2>/dev/null || true' EXIT
sleep 0.5

python3 - "$port" "$pairs" <<'PY'
import http.client, statistics, sys, time
port, pairs = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
def sign_up(email):
    body = f"email={email.replace('@', '%40')}&name=Reader"
    start = time.perf_counter()
    conn.request("POST", "/subscribe", body, {"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    took = (time.perf_counter() - start) * 1000
    assert response.status == 303, response.status
    return took
for i in range(20):  # warm up both paths
    sign_up(f"warm{i}@example.org"); sign_up(f"reader{1999 - i}@example.org")
new, subscribed = [], []
for i in range(pairs):
    new.append(sign_up(f"new{i}@example.org"))
    subscribed.append(sign_up(f"reader{i}@example.org"))
def describe(name, times):
    q = statistics.quantiles(times, n=4)
    print(f"{name:<20} median {statistics.median(times):7.2f} ms   spread (IQR) {q[2] - q[0]:5.2f} ms   "
          f"p99 {statistics.quantiles(times, n=100)[98]:7.2f} ms")
    return statistics.median(times), q[2] - q[0]
print(f"{pairs} sign-ups of each kind, one at a time, in turns:")
m_new, s_new = describe("new address", new)
m_sub, s_sub = describe("already subscribed", subscribed)
diff = abs(m_new - m_sub)
spread = min(s_new, s_sub)
print(f"difference of the medians: {diff:.3f} ms = {diff / spread if spread else float('inf'):.2f}x the smaller spread")
PY
