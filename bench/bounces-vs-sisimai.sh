#!/usr/bin/env bash
# missive's reading of returned mail beside sisimai's (Debian's
# libsisimai-perl, the reference bounce analyser), message by message, on
# any directory of messages (one file each; sisimai's public set-of-emails
# is one such, fetched outside this repository):
#   - failed recipients: of every (message, recipient) sisimai reads, the
#     share missive names for that message;
#   - hard bounces: of sisimai's user unknown, host unknown and has moved,
#     the share missive calls hard (recall), and of what missive calls hard
#     in messages sisimai reads, the share sisimai calls one of those or a
#     null MX (notaccept) (precision); hard verdicts on messages sisimai
#     reads no bounce in are counted and listed apart, having no reference;
#   - where missive gives each failed recipient of a message a verdict of
#     its own (`failures`), that one is compared, recipient by recipient;
#   - complaints: of sisimai's feedback reports of abuse or fraud, the share
#     missive calls a complaint;
#   - the time each takes for the whole directory;
# then the disagreements, grouped by the mail system sisimai names, with
# both verdicts. The messages carry no tag of this project's, so missive
# calls each `untrusted` (it would act on nobody); the verdicts compared are
# what it read.
# Usage: bench/bounces-vs-sisimai.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(cd "${1:?name a directory of messages}" && pwd)"
command -v perl >/dev/null && perl -MSisimai -e1 2>/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsisimai-perl >/dev/null
}
cargo build --release --quiet --bin missive
work="$PWD/bench/work/bounces-vs-sisimai"
rm -rf "$work" && mkdir -p "$work/Mail/new" "$work/Mail/cur" "$work/Mail/tmp"
for f in "$dir"/*; do
  [ -f "$f" ] && cp "$f" "$work/Mail/new/$(basename "$f")"
done
cat > "$work/missive.toml" <<'TOML'
[newsletter]
name = "Bench"
from = "Bench <bench@example.com>"
[bounces]
address = "bounces@example.com"
TOML
export MISSIVE_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef

start=$(date +%s.%N)
(cd "$work" && "$OLDPWD/target/release/missive" bounces maildir:Mail --dry-run --json > missive.jsonl 2> missive.err)
missive_secs=$(echo "$(date +%s.%N) - $start" | bc)

start=$(date +%s.%N)
perl -MSisimai -MJSON::PP -e '
  my $json = JSON::PP->new->canonical;
  for my $file (sort glob("$ARGV[0]/*")) {
    next unless -f $file;
    my $name = (split m{/}, $file)[-1];
    my $found = Sisimai->make($file) // [];
    for my $e (@$found) {
      print $json->encode({
        file => $name,
        recipient => lc($e->recipient->address // ""),
        reason => $e->reason // "",
        soft => $e->softbounce,
        agent => $e->smtpagent // "",
        status => $e->deliverystatus // "",
        command => $e->smtpcommand // "",
        feedback => $e->feedbacktype // "",
      }), "\n";
    }
  }' "$dir" > "$work/sisimai.jsonl"
sisimai_secs=$(echo "$(date +%s.%N) - $start" | bc)

python3 - "$work" "$missive_secs" "$sisimai_secs" <<'PY'
import collections, json, sys
work, missive_secs, sisimai_secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
HARD = {"userunknown", "hostunknown", "hasmoved"}
missive = {}
for line in open(f"{work}/missive.jsonl"):
    o = json.loads(line)
    missive.setdefault(o["source"], []).append(o)
sisimai = collections.defaultdict(list)
for line in open(f"{work}/sisimai.jsonl"):
    o = json.loads(line)
    sisimai[o["file"]].append(o)

def recipients(outcomes):
    found = set()
    for o in outcomes:
        for r in [o.get("recipient")] + (o.get("recipients") or []):
            if r:
                found.add(r.lower())
    return found

# sisimai's reasons as missive names them.
SAME = {"userunknown": "user-unknown", "hostunknown": "host-unknown", "hasmoved": "has-moved",
        "notaccept": "not-accept", "mailboxfull": "mailbox-full", "mesgtoobig": "message-too-big",
        "suspend": "suspended", "filtered": "filtered", "blocked": "blocked",
        "spamdetected": "spam-detected", "policyviolation": "policy-violation",
        "securityerror": "security-error", "rejected": "rejected", "toomanyconn": "too-many-connections",
        "expired": "expired", "networkerror": "network-error", "systemerror": "system-error",
        "feedback": "feedback", "vacation": "vacation", "mailererror": "mailer-error"}
# Where missive gives each failed recipient a verdict of its own, that
# verdict is compared with sisimai's for the same recipient.
def verdicts(outcomes, recipient):
    for o in outcomes:
        for f in o.get("failures") or []:
            if f["recipient"].lower() == recipient:
                return {f["kind"]}, {f["reason"]}
    return {o["kind"] for o in outcomes}, {o.get("reason") for o in outcomes}

# missive's hard verdicts: one per failed recipient where it gives each
# its own, else one per message.
def hard_verdicts(outcomes):
    for o in outcomes:
        if o.get("failures"):
            for f in o["failures"]:
                if f["kind"] == "hard":
                    yield f["recipient"].lower(), f.get("status") or ""
        elif o["kind"] == "hard":
            yield None, o.get("status") or ""

# A null MX (sisimai's notaccept) takes no mail at all: a hard verdict
# for missive too, so agreeing on it counts as agreement.
GONE = HARD | {"notaccept"}
pairs = found = hard = hard_found = complaints = complaints_found = same_reason = 0
missive_hard = missive_hard_right = unread_hard = 0
disagree = collections.defaultdict(list)
for name, records in sisimai.items():
    ours = missive.get(name, [])
    ours_recipients = recipients(ours)
    for r in records:
        kinds, reasons = verdicts(ours, r["recipient"])
        pairs += 1
        if SAME.get(r["reason"]) in reasons:
            same_reason += 1
        if r["recipient"] in ours_recipients:
            found += 1
        elif r["recipient"]:
            disagree[r["agent"]].append(f"{name}: recipient {r['recipient']} not found (missive: {sorted(ours_recipients) or 'none'}, {sorted(kinds) or 'nothing'})")
        if r["reason"] in HARD:
            hard += 1
            if "hard" in kinds:
                hard_found += 1
            else:
                disagree[r["agent"]].append(f"{name}: sisimai {r['reason']} {r['status']}, missive {sorted(kinds) or 'nothing'} {sorted(reasons)}")
        if r["reason"] == "feedback" and r["feedback"] in ("abuse", "fraud", ""):
            complaints += 1
            if "complaint" in kinds:
                complaints_found += 1
            else:
                disagree[r["agent"]].append(f"{name}: sisimai complaint ({r['feedback'] or 'feedback'}), missive {sorted(kinds) or 'nothing'}")
unread = []
for name, ours in missive.items():
    theirs = sisimai.get(name, [])
    for recipient, status in hard_verdicts(ours):
        if not theirs:
            # sisimai reads nothing here: no reference verdict.
            unread_hard += 1
            unread.append(f"{name}: missive hard {status}, sisimai reads no bounce")
            continue
        missive_hard += 1
        same = [r for r in theirs if recipient is None or r["recipient"] == recipient] or theirs
        if any(r["reason"] in GONE for r in same):
            missive_hard_right += 1
        else:
            verdict = ", ".join(f"{r['reason']} {r['status']}" for r in same)
            disagree[theirs[0]["agent"]].append(f"{name}: missive hard {status} {recipient or ''}, sisimai {verdict}")

share = lambda a, b: f"{100 * a / b:.0f}%" if b else "–"
print(f"messages: {len(set(missive) | set(sisimai))} read; sisimai read {len(sisimai)} as bounces or complaints")
print("| measure | missive | sisimai |")
print("| --- | --- | --- |")
print(f"| failed recipients found | {share(found, pairs)} ({found} of {pairs}) | reference |")
print(f"| hard bounces found | {share(hard_found, hard)} ({hard_found} of {hard}) | reference |")
print(f"| hard-bounce precision | {share(missive_hard_right, missive_hard)} ({missive_hard_right} of {missive_hard}) | – |")
print(f"| hard verdicts on messages sisimai reads no bounce in | {unread_hard} | – |")
print(f"| complaints found | {share(complaints_found, complaints)} ({complaints_found} of {complaints}) | reference |")
print(f"| same reason | {share(same_reason, pairs)} ({same_reason} of {pairs}) | reference |")
print(f"| time for the directory | {missive_secs:.2f} s | {sisimai_secs:.2f} s |")
print()
if unread:
    print("Hard verdicts where sisimai reads no bounce (no reference; not in the precision above):")
    for line in unread:
        print(f"    {line}")
print("Disagreements, by the mail system sisimai names:")
for agent in sorted(disagree, key=lambda a: -len(disagree[a])):
    print(f"  {agent} ({len(disagree[agent])})")
    for line in disagree[agent]:
        print(f"    {line}")
PY
