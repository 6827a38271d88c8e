#!/usr/bin/env bash
# CPU per SMTP probe: ses-probe against Prometheus's blackbox_exporter doing
# the same probe at the same rate.
#
#   bash benches/blackbox.sh            # builds what it lacks, installs blackbox_exporter if missing
#   RATE=20 WINDOW=30 bash benches/blackbox.sh
#
# The probe, on both sides: connect to the fake SES of benches/fake_ses.rs,
# 220, EHLO, STARTTLS, the TLS handshake (its leaf checked against the
# fake's CA for the name `localhost`), EHLO again, AUTH PLAIN with the
# fake's SMTP credentials (235), QUIT. blackbox_exporter (the Debian
# package prometheus-blackbox-exporter, installed with apt-get when the
# command is missing; its system service is never used) runs a tcp module
# with that query_response, driven over HTTP by curl at RATE probes a
# second (default 50) for WINDOW seconds (default 60). ses-probe runs
# RATE x 10 SMTP targets with a 10 s interval, the same rate, for an equal
# window. The two sides run one after the other, each after a warm-up.
# Measured: each daemon's user+system CPU ticks (fields 14 and 15 of
# /proc/PID/stat) over its window, divided by the probes it completed
# (blackbox: probe_success lines answered; ses-probe: the delta of
# ses_probe_runs_total). curl's and the fake's CPU are not counted (the
# fake's is printed). Goal (the project's performance issue): ses-probe's
# CPU per probe <= 0.5x blackbox_exporter's; the script exits non-zero
# with MISSED otherwise. Only 127.0.0.1 is contacted (and the Debian
# mirror, when the package has to be installed).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
. benches/common.sh
RATE=${RATE:-50}        # probes a second, both sides
WINDOW=${WINDOW:-60}    # seconds measured, each side
INTERVAL=10             # ses-probe's interval, seconds
TARGETS=$((RATE * INTERVAL))
WORKERS=5               # curl processes driving blackbox_exporter, RATE/WORKERS each
GOAL=0.5
HZ=$(getconf CLK_TCK)

need prometheus-blackbox-exporter=prometheus-blackbox-exporter
BB=$(command -v prometheus-blackbox-exporter)

work=$(mktemp -d)
cleanup() { # every process this script starts is a job of this shell
    # shellcheck disable=SC2046
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN {print e - s}'; }
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# The fake SES.
start_fake "$work/fake"
fake_pid=$FAKE_PID
ca=$CA_PEM

# ---- blackbox_exporter ------------------------------------------------------
module() { # $1 = name, $2 = password
    local auth
    auth=$(printf '\0%s\0%s' "$KEY_ID" "$2" | base64 -w0)
    cat <<EOT
  $1:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      tls_config:
        ca_file: "$ca"
        server_name: localhost
      query_response:
        - expect: "^220 "
        - send: "EHLO bench\r"
        - expect: "^250-STARTTLS"
        - send: "STARTTLS\r"
        - expect: "^220 "
        - starttls: true
        - send: "EHLO bench\r"
        - expect: "^250 "
        - send: "AUTH PLAIN $auth\r"
        - expect: "^235 "
        - send: "QUIT\r"
EOT
}
{
    echo "modules:"
    module ses_smtp "$SMTP_PASSWORD"
    module ses_smtp_wrong_password "not-$SMTP_PASSWORD"
} > "$work/blackbox.yml"
chmod 600 "$work/blackbox.yml"
bb_port=$(free_port)
"$BB" --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$bb_port" \
    --log.level=warn 2>"$work/blackbox.log" &
bb_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$bb_port/metrics" >/dev/null && break; sleep 0.1; done
probe_url() { echo "http://127.0.0.1:$bb_port/probe?module=$1&target=127.0.0.1:$SMTP_PORT"; }
success_of() { curl -s "$(probe_url "$1")" | awk '/^probe_success / {print $2}'; }
good=$(success_of ses_smtp)
bad=$(success_of ses_smtp_wrong_password)
echo "blackbox_exporter $("$BB" --version 2>&1 | awk 'NR == 1 {print $3}') sanity: right password probe_success ${good:-none}, wrong password probe_success ${bad:-none}"
if [ "$good" != 1 ] || [ "$bad" != 0 ]; then
    echo "blackbox_exporter's probe does not check what it should; its debug output:" >&2
    curl -s "$(probe_url ses_smtp)&debug=true" >&2
    cat "$work/blackbox.log" >&2
    exit 1
fi

drive() { # $1 = probes per worker, $2 = output prefix; WORKERS sequential curls at RATE/WORKERS each
    local w i urls=() url workers=()
    url=$(probe_url ses_smtp)
    for i in $(seq 1 "$1"); do urls+=("$url"); done
    for w in $(seq 1 "$WORKERS"); do
        curl -s --rate "$((RATE * 60 / WORKERS))/m" "${urls[@]}" > "$2.$w" &
        workers+=("$!")
    done
    wait "${workers[@]}"
}
drive $((RATE * 5 / WORKERS)) "$work/warm"   # 5 s of warm-up
f0=$(cpu_ticks "$fake_pid"); b0=$(cpu_ticks "$bb_pid"); s=$(now)
drive $((RATE * WINDOW / WORKERS)) "$work/run"
b1=$(cpu_ticks "$bb_pid"); f1=$(cpu_ticks "$fake_pid"); e=$(now)
bb_done=$(cat "$work"/run.* | grep -c '^probe_success ' || true)
bb_ok=$(cat "$work"/run.* | grep -c '^probe_success 1' || true)
bb_line="$bb_done $bb_ok $((b1 - b0)) $(elapsed "$s" "$e") $((f1 - f0))"
stop "$bb_pid"

# ---- ses-probe --------------------------------------------------------------
sp_port=$(free_port)
{
    printf '[server]\nlisten = "127.0.0.1:%s"\nstate_directory = "%s"\n' "$sp_port" "$work/state"
    for i in $(seq 1 "$TARGETS"); do
        cat <<EOT
[[target]]
name = "t$i"
region = "eu-west-1"
[target.smtp]
host = "127.0.0.1"
port = $SMTP_PORT
tls_server_name = "localhost"
ca_file = "$ca"
username = "$KEY_ID"
password = { env = "BENCH_SMTP_PASSWORD" }
timeout = "5s"
interval = "${INTERVAL}s"
EOT
    done
} > "$work/ses-probe.toml"
chmod 600 "$work/ses-probe.toml"
mkdir -p "$work/state"
BENCH_SMTP_PASSWORD=$SMTP_PASSWORD HOME="$work" \
    "$BIN" run --config "$work/ses-probe.toml" --log-level error 2>"$work/ses-probe.log" &
sp_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$sp_port/healthz" >/dev/null && break; sleep 0.1; done
# sum of a metric's smtp series: $1 = metric name
sum_of() { curl -s "http://127.0.0.1:$sp_port/metrics" | awk -v m="$1" '$1 ~ "^" m "[{]" && /check="smtp"/ {s += $2} END {print s + 0}'; }
ok=0
for _ in $(seq 1 $((3 * INTERVAL))); do   # warm-up: every target has run and succeeded
    ok=$(sum_of ses_probe_success)
    [ "$ok" -ge "$TARGETS" ] && break
    sleep 1
done
if [ "$ok" -lt "$TARGETS" ]; then
    echo "ses-probe: only $ok of $TARGETS SMTP checks succeed after $((3 * INTERVAL)) s" >&2
    curl -s "http://127.0.0.1:$sp_port/metrics" | grep -E '^ses_probe_(finding|smtp_reply_code)\{' | sort | uniq -c | sort -rn | head >&2
    exit 1
fi
auth235=$(curl -s "http://127.0.0.1:$sp_port/metrics" | grep -c '^ses_probe_smtp_reply_code{.*phase="auth".* 235$' || true)
echo "ses-probe sanity: $ok of $TARGETS SMTP checks succeed, $auth235 with AUTH 235"
sleep "$INTERVAL"   # past the start-up burst
r0=$(sum_of ses_probe_runs_total); x0=$(sum_of ses_probe_findings_total)
f0=$(cpu_ticks "$fake_pid"); t0=$(cpu_ticks "$sp_pid"); s=$(now)
sleep "$WINDOW"
t1=$(cpu_ticks "$sp_pid"); f1=$(cpu_ticks "$fake_pid"); e=$(now)
r1=$(sum_of ses_probe_runs_total); x1=$(sum_of ses_probe_findings_total)
ok=$(sum_of ses_probe_success)
sp_line="$((r1 - r0)) $((x1 - x0)) $((t1 - t0)) $(elapsed "$s" "$e") $((f1 - f0)) $ok"
stop "$sp_pid"

echo "$bb_line $sp_line" | awk -v hz="$HZ" -v goal="$GOAL" -v rate="$RATE" -v n="$TARGETS" -v iv="$INTERVAL" '{
    bdone = $1; bok = $2; bt = $3; bs = $4; bf = $5
    runs = $6; finds = $7; st = $8; ss = $9; sf = $10; sok = $11
    if (bdone == 0 || runs == 0) { print "MISSED: no probes completed (blackbox " bdone ", ses-probe " runs ")"; exit 1 }
    bms = 1000 * bt / hz / bdone; sms = 1000 * st / hz / runs
    printf "SMTP STARTTLS+AUTH probes at %d/s, one side at a time, CPU from /proc/PID/stat (%d ticks/s)\n", rate, hz
    printf "  blackbox_exporter: %5d probes (%d succeeded) in %.1f s (%.1f/s): %4d ticks, %.3f ms CPU per probe (fake SES: %.3f ms)\n",
        bdone, bok, bs, bdone / bs, bt, bms, 1000 * bf / hz / bdone
    printf "  ses-probe:         %5d runs (%d findings, %d of %d succeeding at the end) in %.1f s (%.1f/s; %d targets every %d s): %4d ticks, %.3f ms CPU per probe (fake SES: %.3f ms)\n",
        runs, finds, sok, n, ss, runs / ss, n, iv, st, sms, 1000 * sf / hz / runs
    ratio = sms / bms
    printf "  ratio ses-probe / blackbox_exporter: %.2f (goal <= %.1f)\n", ratio, goal
    if (bok < bdone) print "  note: " bdone - bok " blackbox probes failed"
    if (finds > 0) print "  note: ses-probe reported " finds " findings in the window"
    if (ratio > goal) { printf "MISSED: ses-probe CPU per SMTP probe %.2fx blackbox_exporter'"'"'s > %.1fx\n", ratio, goal; exit 1 }
}'
