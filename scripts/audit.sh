#!/usr/bin/env bash
# Checks every Cargo.lock of the project against the RustSec advisory
# database snapshot in ../shared/advisory-db, offline (no fetch), and fails
# on any vulnerability. cargo-audit is installed into .tools/ the first time.
# Its settings (offline, no yanked check, justified ignores with their
# reasons: none today) are in .cargo/audit.toml.
# Usage: scripts/audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
db=${CERTIFICA_ADVISORY_DB:-../shared/advisory-db}
audit=.tools/bin/cargo-audit
if [[ ! -x $audit ]]; then
  echo "== installing cargo-audit into .tools (once)"
  cargo install --quiet --locked cargo-audit --version 0.22.2 --root .tools
fi
[[ -d $db/crates ]] || { echo "no advisory database at $db" >&2; exit 1; }
run() { "$audit" audit --db "$db" --no-fetch --stale --deny warnings --file "$1"; }
for lock in Cargo.lock fuzz/Cargo.lock; do
  [[ -f $lock ]] || continue
  echo "== advisories: $lock"
  run "$lock"
done
# The check can fail: a lockfile with the rsa crate's unfixed timing
# advisory (RUSTSEC-2023-0071) must be refused.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat > "$probe/Cargo.lock" <<'LOCK'
version = 4

[[package]]
name = "rsa"
version = "0.9.8"
source = "registry+https://github.com/rust-lang/crates.io-index"
LOCK
if run "$probe/Cargo.lock" > "$probe/out" 2>&1 || ! grep -q "ID:.*RUSTSEC-2023-0071" "$probe/out"; then
  cat "$probe/out" >&2
  echo "the advisory check did not refuse a lockfile with RUSTSEC-2023-0071" >&2
  exit 1
fi
echo "== advisories: a known-vulnerable lockfile is refused (self-check)"
