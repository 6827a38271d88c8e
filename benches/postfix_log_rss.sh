#!/usr/bin/env bash
# Memory while reading Postfix's log: peak resident set size of
#   (a) `ses-probe postfix-report` over a generated 1 GiB log, and
#   (b) the daemon following a log file while 1 GiB is appended to it,
# each against a baseline of the same over a 1 MiB log, measured in the
# same run. Reading is line by line with a bounded line buffer, so the
# ratio should stay close to 1.
#
#   bash benches/postfix_log_rss.sh      # builds the release binary if needed
#   SIZE_MIB=256 bash benches/postfix_log_rss.sh
#
# Needs about 2 GiB of free disk in $TMPDIR. Only 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0
BIN=${SES_PROBE_BIN:-target/release/ses-probe}
[ -x "$BIN" ] || cargo build --release --locked --quiet
SIZE_MIB=${SIZE_MIB:-1024}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# Lines in the format Postfix 3.7 writes (tests/corpus/postfix-real.jsonl),
# relayed to an SES endpoint: sent, deferred with a 535, bounced, plus
# bookkeeping lines that are not deliveries.
generate() { # $1 = MiB, $2 = file
    python3 - "$1" "$2" <<'PY'
import sys
mib, path = int(sys.argv[1]), sys.argv[2]
relay = "email-smtp.eu-west-1.amazonaws.com[52.16.0.1]:587"
lines = [
    "Dec  1 21:39:45 mx postfix/pickup[1500]: {q}: uid=0 from=<app@example.com>",
    "Dec  1 21:39:45 mx postfix/smtp[1601]: {q}: to=<r{n}@example.net>, relay=" + relay + ", delay=0.06, delays=0.03/0.02/0.01/0, dsn=2.0.0, status=sent (250 Ok 0100018c2b7a{n:08x}-0000)",
    "Dec  1 21:39:46 mx postfix/smtp[1602]: {q}: to=<r{n}@example.net>, relay=" + relay + ", delay=0.07, delays=0.02/0.04/0/0, dsn=4.0.0, status=deferred (SASL authentication failed; server " + relay.split(':')[0] + " said: 535 Authentication Credentials Invalid)",
    "Dec  1 21:39:47 mx postfix/smtp[1603]: {q}: to=<r{n}@example.net>, relay=" + relay + ", delay=0.1, delays=0.02/0.04/0/0.04, dsn=5.0.0, status=bounced (host " + relay.split(':')[0] + " said: 554 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: app@example.com (in reply to end of DATA command))",
    "Dec  1 21:39:47 mx postfix/qmgr[1501]: {q}: removed",
]
target = mib * 1024 * 1024
written, n = 0, 0
with open(path, "w") as f:
    buf = []
    while written < target:
        q = "%011X" % n
        for l in lines:
            s = l.format(q=q, n=n) + "\n"
            buf.append(s)
            written += len(s)
        n += 1
        if len(buf) > 20000:
            f.write("".join(buf)); buf = []
    f.write("".join(buf))
PY
}


report_rss() { # $1 = log file; peak RSS of postfix-report in KiB (from
    # the kernel's own accounting: a short run ends before any sampling)
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$BIN" postfix-report "$1"
}

follow_rss() { # $1 = MiB appended while the daemon follows; peak RSS in KiB
    local log="$work/follow-$1.log" cfg="$work/follow-$1.toml" port pid peak=0 now
    : > "$log"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat > "$cfg" <<EOT
[server]
listen = "127.0.0.1:$port"
state_directory = "$work/state"
[postfix_log]
source = "file"
path = "$log"
[[target]]
name = "relay"
region = "eu-west-1"
[target.smtp]
host = "email-smtp.eu-west-1.amazonaws.com"
username = "AKIAIOSFODNN7EXAMPLE"
password = "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2"
interval = "1h"
EOT
    chmod 600 "$cfg"
    mkdir -p "$work/state"
    HOME="$work" "$BIN" run --config "$cfg" --log-level error 2>/dev/null &
    pid=$!
    sleep 2
    generate "$1" "$work/chunk-$1.log"
    cat "$work/chunk-$1.log" >> "$log"
    rm -f "$work/chunk-$1.log"
    # Until every appended delivery is counted (or 10 minutes).
    local want=$(( $(grep -c 'postfix/smtp' "$log") ))
    for _ in $(seq 1 3000); do
        now=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
        [ "$now" -gt "$peak" ] && peak=$now
        got=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^ses_probe_postfix_deliveries_total/ {s += $2} END {print s+0}')
        [ "$got" -ge "$want" ] && break
        sleep 0.2
    done
    kill -TERM "$pid"; wait "$pid" || true
    echo "$peak $got $want"
}

generate 1 "$work/small.log"
generate "$SIZE_MIB" "$work/big.log"
base_report=$(report_rss "$work/small.log")
start=$(date +%s.%N)
big_report=$(report_rss "$work/big.log")
secs=$(echo "$(date +%s.%N) - $start" | bc)
rm -f "$work/big.log"
read -r base_follow _ _ < <(follow_rss 1)
read -r big_follow got want < <(follow_rss "$SIZE_MIB")

awk -v br="$base_report" -v bg="$big_report" -v bf="$base_follow" -v gf="$big_follow" \
    -v size="$SIZE_MIB" -v secs="$secs" -v got="$got" -v want="$want" 'BEGIN {
    printf "postfix-report,   1 MiB log : %6.1f MiB peak RSS (baseline)\n", br/1024
    printf "postfix-report, %4d MiB log : %6.1f MiB peak RSS (%.2fx baseline), %.1f s\n", size, bg/1024, bg/br, secs
    printf "daemon follow,    1 MiB     : %6.1f MiB peak RSS (baseline)\n", bf/1024
    printf "daemon follow,  %4d MiB     : %6.1f MiB peak RSS (%.2fx baseline), %d of %d deliveries counted\n", size, gf/1024, gf/bf, got, want
    fail = 0
    if (bg/br > 1.5) { print "FAIL: postfix-report memory grows with the log"; fail = 1 }
    if (gf/bf > 1.5) { print "FAIL: the follower memory grows with the log"; fail = 1 }
    if (got < want) { print "FAIL: the follower did not count every delivery"; fail = 1 }
    exit fail
}'
