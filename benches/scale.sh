#!/usr/bin/env bash
# The exporter at scale: 10, 100, 1,000 and 5,000 SMTP targets.
#
#   bash benches/scale.sh            # builds what it lacks
#   COUNTS="10 1000" bash benches/scale.sh
#
# Every target's SMTP check runs the full SES conversation every 10 s
# against the load-tolerant fake SES (benches/fake_ses.rs): connect,
# greeting, EHLO, STARTTLS, a verified TLS handshake, EHLO, AUTH LOGIN,
# QUIT. Measured per count: the daemon's CPU over 30 s, RSS before and after
# 40 scrapes, scrape time and size, plain and gzipped (the median of 20
# each, curl's time to the last byte on loopback, into /dev/null: the body
# is streamed, so the first byte says little; gzipped is asked for as
# Prometheus asks, `Accept-Encoding: gzip`, and not decompressed), the time
# a reload of the same config takes (the median of 5 POST /-/reload, which
# answers when done), the same after an edit of one target (the median of
# 5), and how many of the runs succeeded (a bench of
# failing probes would measure the wrong thing). Ratios are against the
# first count of the same invocation. Goals (the project's performance
# issue): /metrics at 1,000 targets <= 5 ms and at 5,000 <= 25 ms, plain
# and gzipped; RSS after scrapes within 20% of before; at 5,000 targets
# <= 15 KiB of RSS per target (the growth over the first count, per added
# target) and <= 40% of one core; reload of 5,000 <= 50 ms, unchanged and
# edited. Only 127.0.0.1
# is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
. benches/common.sh
need bc=bc
COUNTS=${COUNTS:-"10 100 1000 5000"}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
start_fake "$work/fake"

config() { # $1 = targets, $2 = listen port
    printf '[server]\nlisten = "127.0.0.1:%s"\nstate_directory = "%s"\nconcurrency = 64\nreload_endpoint = true\n' "$2" "$work/state"
    for i in $(seq 1 "$1"); do
        printf '[[target]]\nname = "t%s"\nregion = "eu-west-1"\n[target.smtp]\nhost = "127.0.0.1"\nport = %s\ntls_server_name = "localhost"\nca_file = "%s"\nusername = "%s"\npassword = "%s"\ntimeout = "5s"\ninterval = "10s"\n' "$i" "$SMTP_PORT" "$CA_PEM" "$KEY_ID" "$SMTP_PASSWORD"
    done
}

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # $1 = targets; prints: targets cpu_ticks/s rss_before rss_after scrape_ms bytes reload_ms ok gzip_ms gzip_bytes edited_ms
    local n=$1 port cfg pid t0 t1 before after times gz_times size gz_size reload
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
    gz_times=()
    for _ in $(seq 1 20); do
        times+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics")")
        gz_times+=("$(curl -s -o /dev/null -H 'Accept-Encoding: gzip' -w '%{time_total}' "http://127.0.0.1:$port/metrics")")
    done
    gz_size=$(curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/metrics" | wc -c)
    curl -s -o "$work/scrape" "http://127.0.0.1:$port/metrics"
    size=$(stat -c %s "$work/scrape")
    local ok
    ok=$(grep -c '^ses_probe_success{.*check="smtp".*} 1$' "$work/scrape" || true)
    after=$(rss "$pid")
    # Reload: POST /-/reload answers once the reload is done (the same
    # path SIGHUP takes); the median of 5.
    local reloads=()
    for _ in $(seq 1 5); do
        reloads+=("$(curl -s -o /dev/null -X POST -w '%{time_total}' "http://127.0.0.1:$port/-/reload")")
    done
    local reload
    reload=$(printf '%s\n' "${reloads[@]}" | sort -n | awk '{a[NR]=$1} END {print a[3]}')
    # Reload after an edit: one target's timeout changes (5 s <-> 6 s) before
    # each, so the text is parsed afresh and that target restarts.
    local edits=()
    for k in $(seq 1 5); do
        if ((k % 2)); then
            sed -i '0,/^timeout = "5s"$/s//timeout = "6s"/' "$cfg"
        else
            sed -i '0,/^timeout = "6s"$/s//timeout = "5s"/' "$cfg"
        fi
        edits+=("$(curl -s -o /dev/null -X POST -w '%{time_total}' "http://127.0.0.1:$port/-/reload")")
    done
    local edited
    edited=$(printf '%s\n' "${edits[@]}" | sort -n | awk '{a[NR]=$1} END {print a[3]}')
    kill -TERM "$pid"; wait "$pid" || true
    local median gz_median
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    gz_median=$(printf '%s\n' "${gz_times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$n $(echo "($t1 - $t0) / 30" | bc -l) $before $after $(echo "$median * 1000" | bc -l) $size $(echo "$reload * 1000" | bc -l) $ok $(echo "$gz_median * 1000" | bc -l) $gz_size $(echo "$edited * 1000" | bc -l)"
}

results=()
for n in $COUNTS; do results+=("$(measure "$n")"); done
printf '%s\n' "${results[@]}" | awk -v hz="$(getconf CLK_TCK)" '
NR == 1 { bn = $1; bcpu = $2; brss = $4; bscrape = $5 }
{
    per = NR == 1 ? $4 / $1 : ($4 - brss) / ($1 - bn)
    printf "%5d targets: CPU %5.1f%% of a core, RSS %6.1f -> %6.1f MiB (%+.0f%%, %.1f KiB/target), scrape %7.2f ms (%.1fx) %8d bytes, gzipped %7.2f ms %7d bytes, reload %7.1f ms (edited %7.1f ms), %d/%d ok\n",
        $1, 100 * $2 / hz, $3/1024, $4/1024, 100 * ($4 - $3) / $3, per, $5, $5 / bscrape, $6, $9, $10, $7, $11, $8, $1
    if ($8 != $1) { print "  MISSED: not every SMTP check succeeded (the measurement is void)"; fail = 1 }
    if ($1 == 1000 && $5 > 5) { print "  MISSED: /metrics at 1,000 targets > 5 ms"; fail = 1 }
    if ($1 == 5000 && $5 > 25) { print "  MISSED: /metrics at 5,000 targets > 25 ms"; fail = 1 }
    if ($1 == 1000 && $9 > 5) { print "  MISSED: gzipped /metrics at 1,000 targets > 5 ms"; fail = 1 }
    if ($1 == 5000 && $9 > 25) { print "  MISSED: gzipped /metrics at 5,000 targets > 25 ms"; fail = 1 }
    if ($1 == 5000 && $7 > 50) { print "  MISSED: reload of 5,000 targets > 50 ms"; fail = 1 }
    if ($1 == 5000 && $11 > 50) { print "  MISSED: reload of 5,000 targets after an edit > 50 ms"; fail = 1 }
    if ($1 == 5000 && per > 15) { print "  MISSED: more than 15 KiB of RSS per target at 5,000"; fail = 1 }
    if ($1 == 5000 && 100 * $2 / hz > 40) { print "  MISSED: 5,000 targets every 10 s take more than 40% of a core"; fail = 1 }
    if (($4 - $3) / $3 > 0.2) { print "  MISSED: RSS after scrapes grew by more than 20%"; fail = 1 }
}
END { exit fail }'
