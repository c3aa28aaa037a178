#!/usr/bin/env bash
# Measures `missive preview`'s live reload: the time from saving the issue TOML
# to the reload message (the server-sent `render` event), for a 100-item
# synthetic issue, over 30 saves. Usage: bench/preview-reload.sh [ITEMS]
set -euo pipefail
cd "$(dirname "$0")/.."
items="${1:-100}"
cargo build --release --quiet --bin missive --example synthetic_issue
work="$PWD/bench/work/preview"
rm -rf "$work" && mkdir -p "$work/issues"
cp missive.toml subscribers.example.csv "$work/"
target/release/examples/synthetic_issue "$items" > "$work/issues/synthetic.toml"

python3 - "$PWD/target/release/missive" "$work" <<'PY'
import http.client, statistics, subprocess, sys, time, urllib.parse

missive, work = sys.argv[1], sys.argv[2]
issue = work + "/issues/synthetic.toml"
server = subprocess.Popen([missive, "preview", "issues/synthetic.toml", "--port", "0"], cwd=work,
                          stdout=subprocess.PIPE, text=True,
                          env={"PATH": "/usr/bin:/bin", "MISSIVE_UNSUBSCRIBE_SECRET": "bench-secret-0123456789"})
try:
    url = next(w for w in server.stdout.readline().split() if w.startswith("http://"))
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    conn.request("GET", "/events")
    stream = conn.getresponse()

    def next_version():
        while True:
            line = stream.readline().decode()
            if line.startswith("data:"):
                return int(line[5:])

    version = next_version()
    original = open(issue).read()
    times = []
    def state():
        c = http.client.HTTPConnection(u.hostname, u.port)
        c.request("GET", "/state")
        return c.getresponse().read().decode()

    for i in range(30):
        text = original.replace("Synthetic issue with", f"Synthetic issue (edit {i}) with")
        start = time.perf_counter()
        with open(issue, "w") as f:
            f.write(text)
        # The first reload message whose render holds the edit.
        while True:
            next_version()
            elapsed = (time.perf_counter() - start) * 1000
            if f"(edit {i})" in state():
                break
        times.append(elapsed)
        time.sleep(0.3)
    times.sort()
    print(f"{len(times)} saves of a {len(original)//1000} KB issue: save → reload message "
          f"median {statistics.median(times):.0f} ms, p90 {times[int(len(times)*0.9)-1]:.0f} ms, "
          f"max {max(times):.0f} ms (target: under 100 ms)")
finally:
    server.kill()
PY
