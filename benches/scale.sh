#!/usr/bin/env bash
# The exporter at scale: 10, 100, 1,000 and 5,000 SMTP targets.
#
#   bash benches/scale.sh            # builds the release binary if needed
#   COUNTS="10 1000" bash benches/scale.sh
#
# Each target's SMTP check connects to a loopback port that refuses
# connections every 10 s (the cheapest full check: DNS of 127.0.0.1, a
# refused connect), so what is measured is the daemon's own cost: CPU over
# 30 s, RSS before and after 20 scrapes, server-side scrape time (the
# median of 20, as curl's time to first byte on loopback), scrape size,
# and the time a SIGHUP reload of the same config takes. Ratios are
# against the 10-target run of the same invocation. Goals (the project's
# performance issue): /metrics at 1,000 targets <= 5 ms and at 5,000 <=
# 25 ms, RSS after scrapes within 20% of before, reload of 5,000 <= 50 ms.
# Only 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0
BIN=${SES_PROBE_BIN:-target/release/ses-probe}
[ -x "$BIN" ] || cargo build --release --locked --quiet
COUNTS=${COUNTS:-"10 100 1000 5000"}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dead=$(free_port)

config() { # $1 = targets, $2 = listen port
    printf '[server]\nlisten = "127.0.0.1:%s"\nstate_directory = "%s"\nconcurrency = 64\n' "$2" "$work/state"
    for i in $(seq 1 "$1"); do
        printf '[[target]]\nname = "t%s"\nregion = "eu-west-1"\n[target.smtp]\nhost = "127.0.0.1"\nport = %s\nusername = "AKIAIOSFODNN7EXAMPLE"\npassword = "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2"\ntimeout = "2s"\ninterval = "10s"\n' "$i" "$dead"
    done
}

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # $1 = targets; prints: targets cpu% rss_before rss_after scrape_ms bytes reload_ms
    local n=$1 port cfg pid t0 t1 before after times size reload
    port=$(free_port)
    cfg="$work/c$n.toml"
    config "$n" "$port" > "$cfg"
    chmod 600 "$cfg"
    mkdir -p "$work/state"
    HOME="$work" "$BIN" run --config "$cfg" --log-level error 2>/dev/null &
    pid=$!
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    sleep 12   # every target has run once
    t0=$(cpu_ticks "$pid")
    sleep 30
    t1=$(cpu_ticks "$pid")
    before=$(rss "$pid")
    times=()
    for _ in $(seq 1 20); do
        times+=("$(curl -s -o "$work/scrape" -w '%{time_starttransfer}' "http://127.0.0.1:$port/metrics")")
    done
    size=$(stat -c %s "$work/scrape")
    after=$(rss "$pid")
    # Reload: SIGHUP, then wait until the reload timestamp moves.
    local stamp new
    stamp=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^ses_probe_config_last_reload_success_timestamp_seconds/ {print $2}')
    sleep 1.1
    local r0 r1
    r0=$(date +%s.%N)
    kill -HUP "$pid"
    for _ in $(seq 1 1000); do
        new=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^ses_probe_config_last_reload_success_timestamp_seconds/ {print $2}')
        [ "$new" != "$stamp" ] && break
        sleep 0.005
    done
    r1=$(date +%s.%N)
    kill -TERM "$pid"; wait "$pid" || true
    local median
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$n $(echo "($t1 - $t0) / 30" | bc -l) $before $after $(echo "$median * 1000" | bc -l) $size $(echo "($r1 - $r0) * 1000" | bc -l)"
}

results=()
for n in $COUNTS; do results+=("$(measure "$n")"); done
printf '%s\n' "${results[@]}" | awk -v hz="$(getconf CLK_TCK)" '
NR == 1 { bcpu = $2; brss = $4; bscrape = $5 }
{
    printf "%5d targets: CPU %5.1f%% of a core, RSS %6.1f -> %6.1f MiB (%+.0f%%, %.1f KiB/target), scrape %7.2f ms (%.1fx) %8d bytes, reload %7.1f ms\n",
        $1, 100 * $2 / hz, $3/1024, $4/1024, 100 * ($4 - $3) / $3, $4 / $1, $5, $5 / bscrape, $6, $7
    if ($1 == 1000 && $5 > 5) { print "  MISSED: /metrics at 1,000 targets > 5 ms"; fail = 1 }
    if ($1 == 5000 && $5 > 25) { print "  MISSED: /metrics at 5,000 targets > 25 ms"; fail = 1 }
    if ($1 == 5000 && $7 > 50) { print "  MISSED: reload of 5,000 targets > 50 ms"; fail = 1 }
    if (($4 - $3) / $3 > 0.2) { print "  MISSED: RSS after scrapes grew by more than 20%"; fail = 1 }
}
END { exit fail }'
