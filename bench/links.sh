#!/usr/bin/env bash
# Times `missive check --links --fresh` on a 200-item issue whose links all
# point at a local test server (tests/links/server.py on loopback), and, in
# the same run, curl asking the same 200 URLs with HEAD, 16 at a time
# (`curl --parallel`): the floor of any link checker. Prints both and the ratio.
# Usage: bench/links.sh [ITEMS]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200}"
cargo build --release --quiet --bin missive
work="$PWD/bench/work/links"
rm -rf "$work" && mkdir -p "$work/issues"
python3 tests/links/server.py --count "$work/requests.log" > "$work/server.out" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
while ! grep -q READY "$work/server.out" 2>/dev/null; do sleep 0.1; done
port=$(awk '/READY/ {print $2}' "$work/server.out")
python3 - "$work/issues/2026-12-04-links.toml" "$port" "$n" <<'PY'
import sys
path, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "w") as f:
    f.write('subject = "Links"\ndate = 2026-12-04\n\n[[sections]]\ntitle = "Links"\n')
    for i in range(n):
        f.write(f'\n[[sections.items]]\ntitle = "Item {i}"\nurl = "http://127.0.0.1:{port}/ok-{i}"\n')
PY
now() { date +%s.%N; }
start=$(now)
(cd "$work" && "$OLDPWD/target/release/missive" check issues/2026-12-04-links.toml --links --fresh | tail -1)
missive=$(echo "$(now) - $start" | bc)
urls=$(for i in $(seq 0 $((n - 1))); do printf -- '-I -s -o /dev/null http://127.0.0.1:%s/ok-%s ' "$port" "$i"; done)
start=$(now)
# shellcheck disable=SC2086
curl --no-progress-meter --parallel --parallel-max 16 $urls
curl_time=$(echo "$(now) - $start" | bc)
printf 'missive check --links: %d links in %.2f s\n' "$n" "$missive"
printf 'curl --parallel (HEAD): %d links in %.2f s\n' "$n" "$curl_time"
printf 'ratio:                  missive takes %.1fx the time of curl\n' "$(echo "$missive / $curl_time" | bc -l)"
