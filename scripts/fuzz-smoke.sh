#!/usr/bin/env bash
# A short, bounded fuzz run of every cargo-fuzz target (CI): installs cargo-fuzz when missing,
# builds the targets (AddressSanitizer, debug assertions), then runs each for FUZZ_SECONDS
# (default 20) from its committed seeds. New corpus entries go to a scratch directory, never
# into the repository. A crash fails the script and leaves the input in fuzz/artifacts/.
# Long runs: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> -- -max_total_time=600
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz" >&2
  time cargo install cargo-fuzz --locked
fi
# cargo-fuzz passes -Zsanitizer=address; a stable toolchain accepts it with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
time cargo fuzz build

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo fuzz list); do
  mkdir -p "$scratch/$target"
  echo "fuzz-smoke: $target for ${seconds}s" >&2
  # One process, one job; exec/s and coverage are printed at the end.
  cargo fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
    grep -E '^(#[0-9]+\s+DONE|Done|==[0-9]+==ERROR|thread .* panicked|SUMMARY|stat::number_of_executed_units)' || true
  # grep hides the run's exit status; a crash leaves an artifact.
  if compgen -G "artifacts/$target/*" >/dev/null; then
    echo "fuzz-smoke: $target crashed; inputs in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
