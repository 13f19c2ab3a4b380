#!/usr/bin/env bash
# Runs every check and test of Certifica. Installs what the tests need
# (poppler-utils for pdftotext, openssl) when missing, so it passes on a
# fresh machine. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v pdftotext >/dev/null || need_apt+=(poppler-utils)
# The web client's browser tests: Debian's chromium (with its translations),
# driven by playwright-core; no browser is downloaded.
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium chromium-l10n)
command -v node >/dev/null || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
  echo "== installing ${need_apt[*]}"
  if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null; fi
fi

# The AWS emulator (moto server) in a project-local virtualenv, on 127.0.0.1
# and a free port; the AWS adapters' tests run against it, never real AWS.
venv=.venv
if [[ ! -x $venv/bin/moto_server ]]; then
  echo "== installing moto (AWS emulator) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "moto[server,dynamodb,s3]==5.2.5"
fi
# Infrastructure checks (offline): cfn-lint and checkov in their own
# virtualenv (their pinned dependencies differ from moto's).
infra_venv=.venv-infra
if [[ ! -x $infra_venv/bin/checkov || ! -x $infra_venv/bin/cfn-lint ]]; then
  echo "== installing cfn-lint and checkov into $infra_venv"
  python3 -m venv "$infra_venv"
  "$infra_venv/bin/pip" install -q --disable-pip-version-check "cfn-lint==1.58.0" "checkov==3.3.30"
fi
# playwright-core and axe-core for the browser tests, from the lockfile, into web/tests.
if [[ ! -d web/tests/node_modules/playwright-core || web/tests/package-lock.json -nt web/tests/node_modules ]]; then
  echo "== installing the browser tests' packages into web/tests/node_modules"
  (cd web/tests && npm ci --no-audit --no-fund --loglevel=error)
fi
moto_pids=()
trap 'kill "${moto_pids[@]}" 2>/dev/null || true' EXIT
# Starts one emulator on a free port of 127.0.0.1 and prints its URL.
start_moto() {
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$venv/bin/python" scripts/moto_serial.py "$port" > "target/moto-$1.log" 2>&1 &
  moto_pids+=($!)
  python3 - "$port" "$1" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(f"moto server did not start; see target/moto-{sys.argv[2]}.log")
PY
  moto_url="http://127.0.0.1:$port"
}
mkdir -p target
start_moto storage
export CERTIFICA_TEST_AWS_ENDPOINT=$moto_url
# Mail gets its own emulator: moto's /moto-api/data.json (where sent mail is
# read back) fails once S3 has held a multipart upload.
start_moto mail
export CERTIFICA_TEST_SES_ENDPOINT=$moto_url
echo "== AWS emulators (moto): storage $CERTIFICA_TEST_AWS_ENDPOINT, mail $CERTIFICA_TEST_SES_ENDPOINT"

echo "== cfn-lint infra/template.yaml"
"$infra_venv/bin/cfn-lint" infra/template.yaml
echo "== checkov infra/ (offline)"
# Never contacts the outside: no guidelines download, no update check.
BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE \
  "$infra_venv/bin/checkov" --skip-download --quiet --compact -d infra --framework cloudformation
echo "== template ⇔ code"
"$infra_venv/bin/python" scripts/check-infra.py

# RustSec advisories, offline against ../shared/advisory-db (installs cargo-audit once).
bash scripts/audit.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== the run command builds without the AWS SDK"
# `certifica serve` and the signer's commands; only `provision --table` (feature aws) needs AWS.
if cargo tree -p certifica-cli --locked -e normal --prefix none | grep -E '^aws-(sdk|config|smithy|runtime|sigv4)'; then
  echo "certifica-cli links AWS SDK crates without the aws feature" >&2
  exit 1
fi
echo "== cargo clippy"
# The cli with its aws feature: `provision --table` is linted and tested too.
cargo clippy --workspace --all-targets --locked --features certifica-cli/aws -- -D warnings
echo "== cargo test"
# Test threads get 8 MiB of stack instead of 2: unoptimised, the AWS SDK polls
# through deep frames, and the emulator-backed tests come close to 2 MiB
# (release builds, which are what runs in Lambda, need a fraction of it).
RUST_MIN_STACK=8388608 cargo test --workspace --locked --features certifica-cli/aws
echo "== web client in chromium (node --test)"
# Against the certifica binary the tests just built; screenshots go to target/web-screenshots/.
CERTIFICA_BIN=target/debug/certifica node --test --test-concurrency=1 web/tests/*.test.mjs
