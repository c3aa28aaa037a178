# Sourced by the serve benches: one-click unsubscribes against the server on
# $port with wrk, every request a new address (appended and fsynced before
# its 200). Needs $work, $port, $secs, $conns and MISSIVE_UNSUBSCRIBE_SECRET;
# leaves wrk's report in $work/unsubscribe.txt.
# Unsubscribe links of $1 addresses (default 200,000); each wrk thread takes its own share.
python3 - "$work/pairs.txt" "${1:-200000}" <<'PY'
import hmac, hashlib, os, sys
secret = os.environ["MISSIVE_UNSUBSCRIBE_SECRET"].encode()
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        e = f"u{i}@example.org"
        f.write("%s %s\n" % (e.replace("@", "%40"), hmac.new(secret, e.encode(), hashlib.sha256).hexdigest()))
PY
cat > "$work/unsubscribe.lua" <<'LUA'
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
LUA
echo "== one-click unsubscribes: a new address each (append + fsync before the 200)"
PAIRS="$work/pairs.txt" wrk -t2 -c"$conns" -d"${secs}s" -s "$work/unsubscribe.lua" "http://127.0.0.1:$port" | tee "$work/unsubscribe.txt"
