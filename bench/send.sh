#!/usr/bin/env bash
# Times `missive send` of an issue to N generated subscribers (4
# connections, personalization on) into Postfix's smtp-sink on loopback, and,
# in the same run, Postfix's `smtp-source -d -s 4` sending N messages of the
# same size; prints both rates and the ratio. Then the same N spread over two
# relays (two smtp-sinks, 4 connections each, weights 1:1) beside the one
# relay's rate. Then compares missive's peak RSS at N and at BIG subscribers.
# Then the round trips: RTT_N messages (default 2000) through a proxy that
# holds every chunk RTT_MS/2 ms each way (RTT_MS default 20: a relay that
# far away; bench/delay_proxy.py), missive beside smtp-source, with the
# round trips per message the proxy counted (the server idle until the
# client heard its answer), into smtp-sink and into a real Postfix; and
# Postfix again with the proxy holding nothing, for what the distance adds.
# The issue is the seed size by default: the synthetic long digest of 95
# items (about 224 KB a message on the wire); ISSUE=example sends the
# bundled example issue (about 50 KB) instead.
# Usage: bench/send.sh [N] [BIG]   (defaults 20000 and 200000)
# With MISSIVE_BASELINE=/path/to/another/missive, that build also sends N in
# the same run, and its rate is printed beside this one's.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"
big="${2:-200000}"

if ! command -v smtp-sink >/dev/null || ! [ -x /usr/bin/time ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix time >/dev/null
fi
cargo build --release --quiet --bin missive --example synthetic_issue

work="$PWD/bench/work/send"
rm -rf "$work" && mkdir -p "$work/project/issues"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
smtp-sink -u nobody 127.0.0.1:"$port" 1024 &
sink=$!
smtp-sink -u nobody 127.0.0.1:"$port2" 1024 &
sink2=$!
trap 'kill $sink $sink2 2>/dev/null || true' EXIT
sleep 0.5

if [ "${ISSUE:-digest}" = example ]; then
  cp issues/2026-11-27-tides-and-timetables.toml "$work/project/issues/issue.toml"
else
  target/release/examples/synthetic_issue --digest 95 > "$work/project/issues/issue.toml"
fi
cat > "$work/project/missive.toml" <<TOML
[newsletter]
name = "The Slow Commute"
from = "Matt Example <matt@example.com>"
list_id = "The Slow Commute <weekly.slowcommute.example.com>"
web_url = "https://slowcommute.example.com/issues"
[unsubscribe]
url = "https://slowcommute.example.com/unsubscribe?email={email}&token={token}"
mailto = "unsubscribe@slowcommute.example.com"
[smtp]
host = "127.0.0.1"
port = $port
security = "none"
[sending]
concurrency = 4
batch_size = 500
TOML
list() { # list N FILE: N subscribers with names and a city column
  python3 - "$1" "$2" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("email,name,city\n")
    for i in range(n):
        f.write(f"reader{i:07d}@example.org,Reader Number {i},City {i % 97}\n")
PY
}
export MISSIVE_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef

# The size of one personalized message, for smtp-source: as it goes on the
# wire to smtp-sink (8-bit: smtp-sink offers 8BITMIME), read from a dump of
# it; and in 7-bit form (quoted-printable), as the file transport writes it.
mkdir -p "$work/size/issues" "$work/size/dump"
chmod 777 "$work/size/dump"
cp "$work/project/issues/issue.toml" "$work/size/issues/"
dump_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
smtp-sink -u nobody -d "$work/size/dump/%M." 127.0.0.1:"$dump_port" 10 &
dump_sink=$!
sleep 0.5
sed -e "s/^port = $port\$/port = $dump_port/" "$work/project/missive.toml" > "$work/size/missive.toml"
list 1 "$work/size/subscribers.csv"
(cd "$work/size" && "$OLDPWD/target/release/missive" send issues/issue.toml --yes >/dev/null)
kill $dump_sink
size=$(python3 - "$work/size/dump" <<'PY'
import os, sys
d = sys.argv[1]
raw = open(os.path.join(d, sorted(os.listdir(d))[0]), "rb").read()
print(len(raw) - (raw.index(b"\nFrom: ") + 1))  # smtp-sink's own lines before ours
PY
)
sed -e 's/^concurrency = 4/transport = "file"\noutbox = "outbox"/' "$work/project/missive.toml" > "$work/size/missive.toml"
rm -rf "$work/size/.missive"
(cd "$work/size" && "$OLDPWD/target/release/missive" send issues/issue.toml --yes >/dev/null)
size7=$(wc -c < "$(ls "$work"/size/outbox/*.eml | head -1)")
echo "message size: $size bytes as sent (8-bit), $size7 bytes in 7-bit form (quoted-printable)"

run_missive() { # run_missive N [BINARY]: prints "seconds rss_kb cpu_seconds"
  local bin="${2:-$PWD/target/release/missive}"
  list "$1" "$work/project/subscribers.csv"
  rm -rf "$work/project/.missive"
  (cd "$work/project" && /usr/bin/time -f "%e %M %U %S" -o "$work/time.txt" \
     "$bin" send issues/issue.toml --yes > "$work/missive-$1.log")
  awk '{print $1, $2, $3 + $4}' "$work/time.txt"
}

read -r m_secs m_rss m_cpu < <(run_missive "$n")
grep "This run" "$work/missive-$n.log"
start=$(date +%s.%N)
smtp-source -d -s 4 -m "$n" -l "$size" -f matt@example.com -t reader@example.org 127.0.0.1:"$port"
end=$(date +%s.%N)
# The same N over two relays: [smtp] becomes two [[relays]].
cp "$work/project/missive.toml" "$work/one-relay.toml"
python3 - "$work/project/missive.toml" "$port" "$port2" <<'PY'
import sys
path, p1, p2 = sys.argv[1:]
text = open(path).read()
head, rest = text.split("[smtp]", 1)
sending = rest[rest.index("[sending]"):]
relays = "".join(
    f'[[relays]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n\n'
    for name, port in (("sink-a", p1), ("sink-b", p2)))
open(path, "w").write(head + relays + sending)
PY
read -r r_secs r_rss _ < <(run_missive "$n")
grep -E "This run|By relay" "$work/missive-$n.log"
cp "$work/one-relay.toml" "$work/project/missive.toml"

read -r b_secs b_rss _ < <(run_missive "$big")
grep "This run" "$work/missive-$big.log"
base_secs=0
base_cpu=0
if [ -n "${MISSIVE_BASELINE:-}" ]; then
  read -r base_secs base_rss base_cpu < <(run_missive "$n" "$MISSIVE_BASELINE")
  grep "This run" "$work/missive-$n.log"
fi

# Round trips: the same issue through the delay proxy.
rtt_ms="${RTT_MS:-20}"
rtt_n="${RTT_N:-2000}"
start_proxy() { # start_proxy TARGET_PORT TURNS_FILE RTT_MS: sets proxy_pid and proxy_port
  : > "$work/proxy.out"
  python3 bench/delay_proxy.py --target "$1" --delay-ms "$(python3 -c "print($3 / 2)")" \
    --turns-file "$2" > "$work/proxy.out" &
  proxy_pid=$!
  until grep -q READY "$work/proxy.out"; do sleep 0.05; done
  proxy_port=$(awk '/READY/ {print $2}' "$work/proxy.out")
}
through_proxy() { # through_proxy TARGET_PORT NAME [RTT_MS]: missive, then smtp-source,
  # through the proxy to TARGET_PORT; prints "missive_secs missive_waits
  # missive_pauses missive_lost source_secs source_waits source_pauses source_lost"
  local rtt="${3:-$rtt_ms}"
  start_proxy "$1" "$work/turns-$2-missive" "$rtt"
  sed -i "s/^port = $port\$/port = $proxy_port/" "$work/project/missive.toml"
  local secs
  read -r secs _ _ < <(run_missive "$rtt_n")
  grep "This run" "$work/missive-$rtt_n.log" >&2
  sed -i "s/^port = $proxy_port\$/port = $port/" "$work/project/missive.toml"
  kill $proxy_pid; wait $proxy_pid 2>/dev/null || true
  start_proxy "$1" "$work/turns-$2-source" "$rtt"
  local start end
  start=$(date +%s.%N)
  smtp-source -d -s 4 -m "$rtt_n" -l "$size" -f matt@example.com -t reader@example.org \
    127.0.0.1:"$proxy_port" >&2
  end=$(date +%s.%N)
  kill $proxy_pid; wait $proxy_pid 2>/dev/null || true
  echo "$secs $(cat "$work/turns-$2-missive") $(python3 -c "print($end - $start)") $(cat "$work/turns-$2-source")"
}
read -r -a sink_runs < <(through_proxy "$port" sink)
# A real Postfix smtpd as the target (it offers PIPELINING and CHUNKING,
# queues to disk and relays everything on to the smtp-sink): the scale-out
# path, through the same proxy.
pf="$work/postfix"
mkdir -p "$pf/conf" "$pf/queue" "$pf/data"
chown postfix "$pf/data"
pf_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$pf/conf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.bench.test
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:$port
smtp_tls_security_level = none
smtputf8_enable = no
maillog_file = /dev/stdout
CF
{
  echo "127.0.0.1:$pf_port inet n - n - - smtpd"
  for service in "pickup unix n - n 60 1 pickup" "cleanup unix n - n - 0 cleanup" \
    "qmgr unix n - n 300 1 qmgr" "rewrite unix - - n - - trivial-rewrite" \
    "bounce unix - - n - 0 bounce" "defer unix - - n - 0 bounce" "trace unix - - n - 0 bounce" \
    "verify unix - - n - 1 verify" "flush unix n - n 1000? 0 flush" \
    "proxymap unix - - n - - proxymap" "smtp unix - - n - - smtp" "relay unix - - n - - smtp" \
    "error unix - - n - - error" "retry unix - - n - - error" "discard unix - - n - - discard" \
    "anvil unix - - n - 1 anvil" "scache unix - - n - 1 scache" "postlog unix-dgram n - n - 1 postlogd"; do
    echo "$service"
  done
} > "$pf/conf/master.cf"
postfix -c "$pf/conf" start-fg > "$pf/postfix.log" 2>&1 &
pf_master=$!
until (exec 3<>/dev/tcp/127.0.0.1/"$pf_port") 2>/dev/null; do sleep 0.1; done
read -r -a pf_runs < <(through_proxy "$pf_port" postfix)
# The same with the proxy holding nothing: what Postfix takes when distance
# costs nothing.
read -r -a pf0_runs < <(through_proxy "$pf_port" postfix0 0)
postfix -c "$pf/conf" stop >/dev/null 2>&1 || true
wait $pf_master 2>/dev/null || true
bdat=$(grep -c "bdat=" "$pf/postfix.log" || true)

python3 - "$rtt_ms" "$rtt_n" "$bdat" "${sink_runs[@]}" "${pf_runs[@]}" "${pf0_runs[@]}" <<'PY'
import sys
rtt, n, bdat, *runs = sys.argv[1:]
n, rtt = int(n), float(rtt)
runs = [runs[i:i + 8] for i in range(0, len(runs), 8)]
for run in runs:
    if run[3] != "0" or run[7] != "0":
        sys.exit("the proxy lost track of an SMTP dialogue: its round trips are not to be trusted")
targets = [
    "smtp-sink, PIPELINING, 4 connections",
    f"a real Postfix smtpd, CHUNKING, queuing to disk and relaying on; {bdat} of its sessions used BDAT",
]
for target, run in zip(targets, runs):
    m_secs, m_waits, m_pauses, _, s_secs, s_waits, s_pauses, _ = run
    m_rate, s_rate = n / float(m_secs), n / float(s_secs)
    print(f"at {rtt:g} ms RTT ({target}):")
    for who, rate, waits, pauses in (("missive send", m_rate, m_waits, m_pauses),
                                     ("smtp-source ", s_rate, s_waits, s_pauses)):
        print(f"  {who}: {n} messages = {rate:.0f} msg/s, {int(waits) / n:.2f} round trips a message "
              f"(the server waiting on the client; {int(pauses) / n:.2f} client pauses after a reply)")
    print(f"  ratio: missive at {m_rate / s_rate:.2f}x smtp-source's rate")
# What the distance costs against Postfix: the time added at RTT over the
# time with the proxy holding nothing, in round trips of each connection.
near, far = float(runs[2][0]), float(runs[1][0])
print(f"Postfix at 0 ms RTT: missive {n / near:.0f} msg/s; at {rtt:g} ms: {n / far:.0f} msg/s; "
      f"the distance added {(far - near) * 4 / (n * rtt / 1000):.2f} round trips a message "
      f"on each of the 4 connections")
PY

python3 - "$n" "$m_secs" "$start" "$end" "$m_rss" "$big" "$b_rss" "$b_secs" "$base_secs" "$r_secs" "$m_cpu" "$base_cpu" <<'PY'
import sys
n, m_secs, start, end, m_rss, big, b_rss, b_secs, base_secs, r_secs, m_cpu, base_cpu = sys.argv[1:]
n, big = int(n), int(big)
m_rate = n / float(m_secs)
s_rate = n / (float(end) - float(start))
print(f"missive send: {n} messages in {float(m_secs):.2f} s = {m_rate:.0f} msg/s (whole command)")
print(f"smtp-source:  {n} messages in {float(end)-float(start):.2f} s = {s_rate:.0f} msg/s")
print(f"ratio: missive at {m_rate/s_rate:.2f}x smtp-source's rate (target: >= 0.9x)")
print(f"CPU: {1e6 * float(m_cpu) / n:.0f} µs a message (user + system, whole command)")
r_rate = n / float(r_secs)
print(f"two relays:   {n} messages in {float(r_secs):.2f} s = {r_rate:.0f} msg/s "
      f"(4 connections each); {r_rate/m_rate:.2f}x one relay's rate")
print(f"peak RSS: {int(m_rss)/1024:.1f} MiB at {n} subscribers, {int(b_rss)/1024:.1f} MiB at {big} "
      f"({big} sent in {float(b_secs):.1f} s); ratio {int(b_rss)/int(m_rss):.2f} (target: <= 1.5)")
if float(base_secs) > 0:
    base_rate = n / float(base_secs)
    print(f"baseline:     {n} messages in {float(base_secs):.2f} s = {base_rate:.0f} msg/s; "
          f"this build at {100*m_rate/base_rate:.0f}% of the baseline's rate; "
          f"CPU {1e6 * float(base_cpu) / n:.0f} µs a message")
PY
