# shellcheck shell=bash
# Sourced by the benchmark scripts (after `cd` to the repository root and
# `set -euo pipefail`): the binaries, a free loopback port, and the fake
# SES (benches/fake_ses.rs) started in a directory and read back.

export CARGO_INCREMENTAL=0

# Install with apt-get, only when missing, the Debian package that brings
# each command: arguments are command=package.
need() {
    local missing=() pair sudo=()
    for pair in "$@"; do
        command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "installing ${missing[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        { "${sudo[@]}" apt-get update -qq &&
            "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}
# Every bench talks HTTP with curl and picks ports with python3.
need curl=curl python3=python3
BIN=${SES_PROBE_BIN:-target/release/ses-probe}
FAKE=${FAKE_SES_BIN:-target/release/examples/fake-ses}
if [ ! -x "$BIN" ] || [ ! -x "$FAKE" ]; then
    cargo build --release --locked --quiet --bin ses-probe --example fake-ses
fi
[ -x "$BIN" ] || { echo "no ses-probe binary at $BIN" >&2; exit 1; }
[ -x "$FAKE" ] || { echo "no fake-ses binary at $FAKE" >&2; exit 1; }

# A port nothing listens on now, on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Start the fake SES in $1 (a job of the calling shell, so its EXIT trap's
# `kill $(jobs -p)` ends it) and set SMTP_PORT, API_URL, KEY_ID, SECRET,
# SMTP_PASSWORD and CA_PEM from what it writes, and FAKE_PID; exit if it
# does not start within 10 s.
start_fake() {
    "$FAKE" "$1" 2>"$1.log" &
    local pid=$!
    # shellcheck disable=SC2034
    FAKE_PID=$pid
    for _ in $(seq 1 100); do
        [ -s "$1/endpoints" ] && break
        kill -0 "$pid" 2>/dev/null || { echo "fake-ses exited: $(cat "$1.log")" >&2; exit 1; }
        sleep 0.1
    done
    [ -s "$1/endpoints" ] || { echo "fake-ses wrote no endpoints within 10 s" >&2; exit 1; }
    # shellcheck disable=SC2034 # read by the scripts that source this
    SMTP_PORT='' API_URL='' KEY_ID='' SECRET='' SMTP_PASSWORD=''
    # shellcheck disable=SC1091
    . "$1/endpoints"
    # shellcheck disable=SC2034
    CA_PEM=$1/ca.pem
}
