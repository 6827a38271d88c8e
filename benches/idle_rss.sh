#!/usr/bin/env bash
# Idle memory of the exporter daemon: resident set size with 10 targets,
# against a baseline of 1 target measured in the same run.
#
#   bash benches/idle_rss.sh            # builds the release binary if needed
#
# Every target has all four checks (SMTP, identity, account, send) pointed
# at a loopback port that refuses connections, so each check runs its full
# failure path once at start-up; RSS is sampled after the first rounds,
# when the daemon is idle between intervals. Only 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0
BIN=${SES_PROBE_BIN:-target/release/ses-probe}
[ -x "$BIN" ] || cargo build --release --locked --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# A port nothing listens on: bind, note the port, close.
dead_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

config() { # $1 = number of targets, $2 = listen port
    printf '[server]\nlisten = "127.0.0.1:%s"\nstate_directory = "%s"\n' "$2" "$work/state"
    for i in $(seq 1 "$1"); do
        cat <<EOT
[[target]]
name = "t$i"
region = "eu-west-1"
[target.smtp]
host = "127.0.0.1"
port = $dead_port
tls_server_name = "localhost"
username = "AKIAIOSFODNN7EXAMPLE"
password = { env = "BENCH_SMTP_PASSWORD" }
timeout = "2s"
[target.api]
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret_access_key = { env = "BENCH_SECRET" }
endpoint_url = "http://127.0.0.1:$dead_port"
sts_endpoint_url = "http://127.0.0.1:$dead_port"
timeout = "2s"
[target.api.send]
from = "probe@example.com"
EOT
    done
}

measure() { # $1 = number of targets; prints the peak RSS in KiB
    local port cfg pid rss=0
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cfg="$work/t$1.toml"
    config "$1" "$port" > "$cfg"
    chmod 600 "$cfg"
    mkdir -p "$work/state"
    BENCH_SMTP_PASSWORD=BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2 \
    BENCH_SECRET=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
    HOME="$work" AWS_EC2_METADATA_DISABLED=true \
        "$BIN" run --config "$cfg" --log-level warn 2>/dev/null &
    pid=$!
    sleep 8   # first runs of every check, then idle
    for _ in 1 2 3 4 5; do
        local now
        now=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
        [ "$now" -gt "$rss" ] && rss=$now
        sleep 1
    done
    kill -TERM "$pid"; wait "$pid" || true
    echo "$rss"
}

base=$(measure 1)
ten=$(measure 10)
awk -v b="$base" -v t="$ten" 'BEGIN {
    printf "idle RSS,  1 target : %6.1f MiB (baseline)\n", b/1024
    printf "idle RSS, 10 targets: %6.1f MiB (%.2fx baseline)\n", t/1024, t/b
    if (t/1024 >= 30) { print "FAIL: 10-target idle RSS is 30 MiB or more"; exit 1 }
}'
