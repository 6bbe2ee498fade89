#!/usr/bin/env bash
# Before/after speed report from ONE run: builds BASE (default: main) in a worktree of its own with
# its own target dir, builds this checkout, then runs both speed reports in turns, ROUNDS times
# (default 2), each headed by the time and the load averages.
#
# usage: benches/speed_report_ab.sh [base-commit]    (REPS=21 ROUNDS=2; Kryoptic from scripts/kryoptic.sh)
set -euo pipefail
base="${1:-main}"
here="$(git rev-parse --show-toplevel)"
short="$(git -C "$here" rev-parse --short "$base")"
basewt="${BASE_WORKTREE:-${TMPDIR:-/tmp}/lit-speed-base-$short}"
target="${CARGO_TARGET_DIR:-$here/target}"
[ -d "$basewt" ] || git -C "$here" worktree add --detach "$basewt" "$base" >/dev/null
export LIT_KRYOPTIC_MODULE="${LIT_KRYOPTIC_MODULE:-$(bash "$here/scripts/kryoptic.sh")}"
export REPS="${REPS:-21}"
build() { # dir target -> path of the speed_report binary
  (cd "$1" && CARGO_TARGET_DIR="$2" cargo bench --bench speed_report --no-run --message-format=json 2>/dev/null) |
    sed -n 's/.*"executable":"\([^"]*speed_report[^"]*\)".*/\1/p' | tail -1
}
base_bin="$(build "$basewt" "$target-base-$short")"
head_bin="$(build "$here" "$target")"
for round in $(seq "${ROUNDS:-2}"); do
  for which in base head; do
    if [ "$which" = base ]; then bin="$base_bin" dir="$basewt"; else bin="$head_bin" dir="$here"; fi
    echo "=== round $round: $which $(git -C "$dir" rev-parse --short HEAD) $(date -u +%T) load:$(uptime | sed 's/.*average://')"
    (cd "$dir" && "$bin" 2>/dev/null)
  done
done
