#!/usr/bin/env bash
# Measure a clean release build: wall time and the size of the stripped
# binary. Slow (minutes): run by hand, never in CI.
#
#   bash benches/build.sh            # builds into a fresh temporary target dir
#   JOBS=2 bash benches/build.sh     # limit parallelism
#
# Prints one line per measurement, plus the machine it ran on, for the
# Performance section of the README.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
jobs=${JOBS:-$(nproc)}
cargo fetch --quiet
start=$(date +%s)
CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet --jobs "$jobs"
end=$(date +%s)
bin="$target/release/ses-probe"
echo "date:          $(date -u +%Y-%m-%d)"
echo "revision:      $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine:       $(uname -m), $(nproc) cores ($jobs jobs), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //' || echo unknown CPU)"
echo "rustc:         $(rustc --version)"
echo "build time:    $((end - start)) s (clean release build, dependencies fetched)"
echo "binary size:   $(stat -c %s "$bin") bytes ($(( $(stat -c %s "$bin") / 1024 / 1024 )) MiB)"
echo "crates built:  $(ls "$target/release/deps" | grep -c '\.rlib$')"
