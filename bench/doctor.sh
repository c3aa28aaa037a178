#!/usr/bin/env bash
# Times `missive doctor` on a good domain, offline: dnsmasq (Debian) serves
# its records on a loopback port, and the doctor checks the DNS (SPF with
# its lookups, the DKIM key, DMARC, MX, PTR) and the message of the
# seed-size issue (the synthetic 95-item digest, made and signed as `send`
# makes it, its signature verified against that DNS) — everything but the
# relays and the endpoint, which wait on servers elsewhere. Beside it, in the
# same run, the reference checker checkdmarc (PyPI) on the same domain and
# the same server (SPF and DMARC only). Prints both times and the ratio; the
# goal is under 2 s for the doctor.
# Usage: bench/doctor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
command -v dnsmasq >/dev/null || { apt-get update -qq && apt-get install -y -qq dnsmasq-base >/dev/null; }
python3 -c "import checkdmarc" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check checkdmarc==6.0.4
cargo build --release --quiet --bin missive --example synthetic_issue

work="$PWD/bench/work/doctor"
rm -rf "$work" && mkdir -p "$work/project/issues"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/project/dkim.pem" 2>/dev/null
p=$(openssl pkey -in "$work/project/dkim.pem" -pubout -outform DER | base64 -w0)
record="v=DKIM1; k=rsa; p=$p"
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/dnsmasq.conf" <<CONF
port=$port
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
no-poll
user=nobody
group=nogroup
pid-file=
local=/test/
local=/2.0.192.in-addr.arpa/
txt-record=good.test,"v=spf1 ip4:192.0.2.1 include:_spf.good.test -all"
txt-record=_spf.good.test,"v=spf1 ip4:198.51.100.0/24 -all"
txt-record=s1._domainkey.good.test,"${record:0:200}","${record:200}"
txt-record=_dmarc.good.test,"v=DMARC1; p=quarantine; rua=mailto:dmarc@good.test"
mx-host=good.test,mx.good.test,10
host-record=mx.good.test,198.51.100.7
host-record=mail.good.test,192.0.2.1
CONF
dnsmasq --keep-in-foreground --conf-file="$work/dnsmasq.conf" &
dns=$!
trap 'kill $dns 2>/dev/null || true' EXIT
until (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; do sleep 0.05; done

target/release/examples/synthetic_issue --digest 95 > "$work/project/issues/issue.toml"
printf 'email,name\nreader@example.org,Reader\n' > "$work/project/subscribers.csv"
cat > "$work/project/missive.toml" <<TOML
[newsletter]
name = "Good"
from = "News <news@good.test>"
list_id = "Good <weekly.good.test>"
web_url = "https://good.test/issues"
[unsubscribe]
url = "https://good.test/unsubscribe?token={token}"
[dkim]
domain = "good.test"
selector = "s1"
private_key = "dkim.pem"
[sending]
transport = "file"
outbox = "outbox"
TOML
export MISSIVE_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef
doctor="$PWD/target/release/missive doctor --only dns --only message --dns 127.0.0.1:$port --ip 192.0.2.1"
# It must find nothing wrong, or the time is of the wrong thing.
(cd "$work/project" && $doctor)
hyperfine --warmup 2 --min-runs 20 --export-json "$work/doctor.json" \
  -n "missive doctor (DNS + the message, signed and verified)" "cd $work/project && $doctor" \
  -n "checkdmarc (SPF + DMARC)" "python3 tests/doctor/checkdmarc_verdicts.py $port good.test"
python3 - "$work/doctor.json" <<'PY'
import json, sys
m, c = json.load(open(sys.argv[1]))["results"]
print(f"missive doctor: {m['mean'] * 1000:.0f} ms ± {m['stddev'] * 1000:.0f} (goal: under 2 s)")
print(f"checkdmarc:     {c['mean'] * 1000:.0f} ms ± {c['stddev'] * 1000:.0f}")
print(f"ratio: missive doctor takes {m['mean'] / c['mean']:.2f}x checkdmarc's time, checking more")
PY
