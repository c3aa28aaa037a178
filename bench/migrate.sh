#!/usr/bin/env bash
# Moving in: a Mailchimp audience export of 1,000,000 readers (its three
# files: 900,000 subscribed, 70,000 unsubscribed, 30,000 cleaned, and 10,000
# addresses that are in the subscribed file and again in the cleaned one)
# imported into a new project by `missive subscribers import`, timed with
# its peak memory; then the same import again (nothing left to do). Beside
# it, in the same run, Miller (mlr, the CSV tool) reads the same three files
# and keeps one row per address — the least any import must do — as the
# reference the ratio is taken against.
# Usage: bench/migrate.sh [READERS]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
readers="${1:-1000000}"
command -v mlr >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq miller >/dev/null; }
cargo build --release --quiet --bin missive
missive="$PWD/target/release/missive"

work="$PWD/bench/work/migrate"
rm -rf "$work" && mkdir -p "$work/export" "$work/project"
python3 - "$work/export" "$readers" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
header = ('"Email Address","First Name","Last Name",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,'
          'CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,'
          'LAST_CHANGED,LEID,EUID,NOTES,TAGS')
files = {
    "subscribed": open(f"{out}/subscribed_members_export_b3c4.csv", "w", newline=""),
    "unsubscribed": open(f"{out}/unsubscribed_members_export_b3c4.csv", "w", newline=""),
    "cleaned": open(f"{out}/cleaned_members_export_b3c4.csv", "w", newline=""),
}
files["subscribed"].write("\ufeff" + header + "\r\n")
files["unsubscribed"].write(header + ",UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER\r\n")
files["cleaned"].write(header + ",CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID\r\n")
firsts = ["Ada", "Grace", "Zoë", "Åsa", "Alan", "Katherine", "José", "Edsger"]
for i in range(n):
    first = firsts[i % len(firsts)]
    row = (f'reader{i:07d}@example.org,{first},"Reader, No. {i}",{i % 5},"2023-01-01 10:00:00",'
           f'192.0.2.{i % 250},"2023-01-01 10:05:00",192.0.2.{i % 250},,,,,,,,'
           f'"2024-01-01 00:00:00",{i},e{i:x},,"""Imported"",""Weekly"""')
    if i < n * 90 // 100:
        files["subscribed"].write(row + "\r\n")
        if i % 90 == 7:  # in the cleaned file too
            files["cleaned"].write(row + ',"2024-06-01 00:00:00",Issue 40,c40\r\n')
    elif i < n * 97 // 100:
        files["unsubscribed"].write(row + ',"2024-05-01 00:00:00",Issue 39,c39,,\r\n')
    else:
        files["cleaned"].write(row + ',"2024-06-01 00:00:00",Issue 40,c40\r\n')
for f in files.values():
    f.close()
PY
cat > "$work/project/missive.toml" <<TOML
[newsletter]
name = "The Slow Commute"
from = "Matt Example <matt@example.com>"
[unsubscribe]
url = "https://slowcommute.example.com/unsubscribe?token={token}"
[sending]
transport = "file"
outbox = "outbox"
subscribers = "subscribers.csv"
TOML
ls -l "$work/export"
rows=$(cat "$work"/export/*.csv | wc -l)
echo "== $((rows - 3)) rows in three files ($(du -sh "$work/export" | cut -f1))"

timed() { # label, command…: wall seconds and peak RSS from GNU time
    local label="$1"; shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err"; exit 1; }
    read -r secs kb <"$work/time"
    printf '%-34s %7.2f s  %7.1f MB peak\n' "$label" "$secs" "$(echo "$kb / 1000" | bc -l)"
    echo "$secs" >"$work/$label.secs"
}

cd "$work/project"
timed "missive subscribers import" "$missive" subscribers import "$work"/export/*.csv
tail -n +4 "$work/out"
timed "missive subscribers import (again)" "$missive" subscribers import "$work"/export/*.csv
tail -n 1 "$work/out"
cd "$work"
timed "mlr: read, one row per address" mlr --icsv --ocsv --allow-ragged-csv-input \
    put '$email = tolower(${Email Address})' then head -n 1 -g email \
    export/subscribed_members_export_b3c4.csv export/unsubscribed_members_export_b3c4.csv \
    export/cleaned_members_export_b3c4.csv
echo "   (mlr wrote $(($(wc -l <"$work/out") - 1)) rows)"

# What the project holds now: the readers the next send would mail.
subscribed=$(cd project && "$missive" subscribers --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["subscribed"])')
expected=$((readers * 90 / 100 - (readers * 90 / 100 + 82) / 90))
echo "== subscribed after the import: $subscribed (expected $expected: the subscribed file less those also cleaned)"
[ "$subscribed" = "$expected" ] || { echo "MISMATCH"; exit 1; }
python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
m = float(open(f"{w}/missive subscribers import.secs").read())
r = float(open(f"{w}/mlr: read, one row per address.secs").read())
print(f"== ratio: missive's import takes {m / r:.2f}x the time mlr takes to read the files and keep one row per address")
PY
