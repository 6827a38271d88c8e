#!/usr/bin/env bash
# `ses-probe --once` against the manual trio it replaces: the identity,
# account and SMTP checks of one target, against `aws sts
# get-caller-identity` + `aws sesv2 get-account` (the AWS CLI from pip, in
# a venv) + `swaks` (STARTTLS, verified against the fake's CA, AUTH LOGIN,
# quit after AUTH), both timed with hyperfine against the same fake SES
# (benches/fake_ses.rs).
#
#   bash benches/once.sh            # builds the release binary and the fake if needed
#   ONCE_RUNS=50 TRIO_RUNS=5 bash benches/once.sh
#
# Installs what is missing, only when missing: hyperfine and swaks with
# apt-get, awscli with pip into ${XDG_CACHE_HOME:-~/.cache}/ses-probe-bench/venv.
# Each side is run once first and must really succeed (every check ok; the
# account and ARN printed; 235 for AUTH), since a failing command is fast.
# Every command runs with HOME in a temporary directory, no AWS config or
# credentials files and IMDS disabled. Prints the median of each side and
# the ratio. Goals (the project's performance issue): `--once` <= 15 ms
# (median) and >= 50x faster than the trio; the script prints each miss
# and fails. Only 127.0.0.1 is contacted (apart from the installs).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
. benches/common.sh
ONCE_RUNS=${ONCE_RUNS:-30}
TRIO_RUNS=${TRIO_RUNS:-10}
GOAL_MS=15
GOAL_RATIO=50

die() { echo "once.sh: $*" >&2; exit 1; }


# Tools, installed only when missing (Debian splits python3's venv out).
need hyperfine=hyperfine swaks=swaks
python3 -c 'import venv, ensurepip' 2>/dev/null || need missing-venv=python3-venv
venv=${XDG_CACHE_HOME:-$HOME/.cache}/ses-probe-bench/venv
export BENCH_AWS=$venv/bin/aws
if [ ! -x "$BENCH_AWS" ]; then
    echo "installing awscli (pip, into $venv)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check awscli
fi

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

start_fake "$work/fake"
export SMTP_PORT API_URL KEY_ID SMTP_PASSWORD CA_PEM

# A hermetic environment: no AWS_* from the caller, no real config, no IMDS.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^AWS_' || true)
mkdir -p "$work/home" "$work/state"
export HOME=$work/home AWS_EC2_METADATA_DISABLED=true \
    AWS_CONFIG_FILE=$work/none/config AWS_SHARED_CREDENTIALS_FILE=$work/none/credentials \
    AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_PAGER='' \
    BENCH_SMTP_PASSWORD=$SMTP_PASSWORD BENCH_SECRET=$SECRET

cfg=$work/once.toml
cat >"$cfg" <<EOT
[server]
state_directory = "$work/state"

[[target]]
name = "bench"
region = "eu-west-1"
[target.smtp]
host = "127.0.0.1"
port = $SMTP_PORT
ca_file = "$CA_PEM"
username = "$KEY_ID"
password = { env = "BENCH_SMTP_PASSWORD" }
timeout = "5s"
[target.api]
access_key_id = "$KEY_ID"
secret_access_key = { env = "BENCH_SECRET" }
endpoint_url = "$API_URL"
sts_endpoint_url = "$API_URL"
iam_endpoint_url = "$API_URL"
identity = true
account = true
timeout = "5s"
EOT
chmod 600 "$cfg"
# A release from before the SMTP check's key-ownership lookup (a baseline
# binary through SES_PROBE_BIN) does not know iam_endpoint_url.
if ! "$BIN" check-config --config "$cfg" >/dev/null 2>&1; then
    sed -i '/^iam_endpoint_url/d' "$cfg"
fi

once=("$BIN" --once --config "$cfg" --output json --log-level error)
# Single-quote free, so each wraps in bash -c '...'; they expand the
# exported variables above when run.
# shellcheck disable=SC2016
aws_identity='"$BENCH_AWS" sts get-caller-identity --endpoint-url "$API_URL" --region eu-west-1 --output json'
# shellcheck disable=SC2016
aws_account='"$BENCH_AWS" sesv2 get-account --endpoint-url "$API_URL" --region eu-west-1 --output json'
# swaks verifies nothing unless told: --tls-verify, against the fake's CA.
# shellcheck disable=SC2016
swaks_auth='swaks --server 127.0.0.1 --port "$SMTP_PORT" --tls --tls-verify --tls-ca-path "$CA_PEM" --auth LOGIN --auth-user "$KEY_ID" --auth-password "$SMTP_PASSWORD" --from probe@example.com --to probe@example.com --quit-after AUTH'
trio="$aws_identity >/dev/null && $aws_account >/dev/null && $swaks_auth >/dev/null"

# Each side once, and it must really succeed.
rc=0
"${once[@]}" >"$work/once.json" 2>"$work/once.err" || rc=$?
[ "$rc" -eq 0 ] || die "ses-probe --once exited $rc: $(cat "$work/once.json" "$work/once.err")"
python3 - "$work/once.json" <<'PY' || die "ses-probe --once did not pass every check (report above)"
import json, sys
report = json.load(open(sys.argv[1]))
checks = {c["check"]: c["status"] for t in report["targets"] for c in t["checks"]}
print("ses-probe --once:", ", ".join(f"{k} {v}" for k, v in checks.items()))
if report["status"] != "ok" or set(checks) != {"smtp", "identity", "account"} \
        or any(s != "ok" for s in checks.values()):
    print(json.dumps(report, indent=2))
    sys.exit(1)
PY
bash -c "$aws_identity" >"$work/identity.json" 2>&1 || die "aws sts get-caller-identity failed: $(cat "$work/identity.json")"
bash -c "$aws_account" >"$work/account.json" 2>&1 || die "aws sesv2 get-account failed: $(cat "$work/account.json")"
python3 - "$work/identity.json" "$work/account.json" <<'PY' || die "the AWS CLI printed no account/ARN or send quota"
import json, sys
ident, account = (json.load(open(p)) for p in sys.argv[1:])
print("aws sts get-caller-identity:", ident["Account"], ident["Arn"])
print("aws sesv2 get-account: SendingEnabled", account["SendingEnabled"],
      "Max24HourSend", account["SendQuota"]["Max24HourSend"])
PY
bash -c "$swaks_auth" >"$work/swaks.log" 2>&1 || die "swaks failed: $(cat "$work/swaks.log")"
grep -Eq '^<~ +235 ' "$work/swaks.log" || die "swaks got no 235 to AUTH over TLS: $(cat "$work/swaks.log")"
echo "swaks: $(grep -E '^<~ +235 ' "$work/swaks.log" | sed 's/^<~ *//')"

# hyperfine aborts on a non-zero exit too.
hyperfine --style basic --warmup 3 --runs "$ONCE_RUNS" -N --export-json "$work/once-times.json" \
    -n "ses-probe --once" "${once[*]}"
hyperfine --style basic --warmup 3 --runs "$TRIO_RUNS" --export-json "$work/trio-times.json" \
    -n "aws sts + aws sesv2 + swaks" "bash -c '$trio'"

python3 - "$work/once-times.json" "$work/trio-times.json" "$GOAL_MS" "$GOAL_RATIO" <<'PY'
import json, sys
once, trio = (json.load(open(p))["results"][0]["median"] * 1000 for p in sys.argv[1:3])
goal_ms, goal_ratio = float(sys.argv[3]), float(sys.argv[4])
ratio = trio / once
print()
print(f"{'':30} {'median':>10}   goal")
print(f"{'ses-probe --once':30} {once:7.1f} ms   <= {goal_ms:g} ms")
print(f"{'aws + aws + swaks':30} {trio:7.1f} ms")
print(f"{'ratio':30} {ratio:7.1f} x    >= {goal_ratio:g}x")
fail = False
if once > goal_ms:
    print(f"MISSED: ses-probe --once median {once:.1f} ms > {goal_ms:g} ms"); fail = True
if ratio < goal_ratio:
    print(f"MISSED: ses-probe --once only {ratio:.1f}x faster than the trio (< {goal_ratio:g}x)"); fail = True
sys.exit(1 if fail else 0)
PY
