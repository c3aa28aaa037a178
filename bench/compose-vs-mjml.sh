#!/usr/bin/env bash
# Times `missive build` on a 100-item synthetic issue beside the reference MJML
# compiler (the `mjml` CLI from npm) compiling the same .mjml, in one run, and
# prints the ratio. Usage: bench/compose-vs-mjml.sh [ITEMS] (default 100).
# With MISSIVE_BASELINE=/path/to/another/missive, that build is timed in the
# same run too (to compare two versions of missive).
set -euo pipefail
cd "$(dirname "$0")/.."
items="${1:-100}"
work=bench/work
mkdir -p "$work"

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
[ -x bench/node_modules/.bin/mjml ] || (cd bench && npm install --no-audit --no-fund --loglevel=error)
cargo build --release --quiet --bin missive --example synthetic_issue

issue="$work/synthetic-$items.toml"
target/release/examples/synthetic_issue "$items" > "$issue"
# One build to produce the MJML the reference compiler gets.
target/release/missive --config missive.toml build "$issue" --out "$work/missive" >/dev/null 2>&1
mjml_file="$work/missive/synthetic-$items.mjml"
echo "issue: $items items, $(wc -c < "$issue") bytes of TOML; MJML $(wc -c < "$mjml_file") bytes"

baseline=()
if [ -n "${MISSIVE_BASELINE:-}" ]; then
  baseline=(-n "baseline build ($MISSIVE_BASELINE)"
            "$MISSIVE_BASELINE --config missive.toml build $issue --out $work/baseline")
fi
hyperfine --warmup 3 --min-runs 20 --export-json "$work/compose.json" \
  -n "missive build (TOML → MJML → HTML + text)" \
  "target/release/missive --config missive.toml build $issue --out $work/missive" \
  -n "mjml CLI (MJML → HTML)" \
  "bench/node_modules/.bin/mjml $mjml_file -o $work/mjml.html" \
  "${baseline[@]}"

python3 - "$work/compose.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
m, ref = r[0]["mean"], r[1]["mean"]
print(f"missive build: {m*1000:.1f} ms   mjml CLI: {ref*1000:.1f} ms   "
      f"ratio: missive is {ref/m:.1f}x faster (target: < 50 ms and >= 20x)")
if len(r) > 2:
    b = r[2]["mean"]
    print(f"baseline build: {b*1000:.1f} ms; this build takes {m/b:.2f}x the baseline's time")
PY
