#!/usr/bin/env bash
# Two builds side by side, the way docs/performance.md compares them on a machine whose speed swings by half within
# the hour (only alternating pairs say anything about a change of a few percent):
#   tools/bench/pairs.sh ROUNDS CORPUS CTMP_A CTMP_B [ENV_A] [ENV_B]
# Runs `ctmp relay --quiet --dry-run` of CORPUS (an NDJSON file, e.g. from `ctmp generate --count 100000 --seed 7`)
# with each executable once per round, A first in odd rounds and B first in even ones, each on a fresh store in a
# folder of its own. ENV_A / ENV_B are one NAME=VALUE each (a runtime setting to compare with the same executable).
# Prints each run ("A|B inputs/s peak-MB µs-CPU-per-input KB-allocated-per-input s-paused-for-GC"), then how many
# pairs B won and the median of the pairs' ratios (B / A) for the rate and the CPU per input.
# Nothing is deleted until the end: ext4 without a journal makes new files slow for a minute after many deletions
# (docs/performance.md, "a twelfth session"), which would tax whichever build runs next.
set -euo pipefail
# shellcheck source=report-line.sh
. "$(dirname "$0")/report-line.sh"

if [ $# -lt 4 ]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

rounds=$1 corpus=$2 ctmp_a=$3 ctmp_b=$4 env_a=${5:-CTMP_PAIRS=A} env_b=${6:-CTMP_PAIRS=B}
for file in "$corpus" "$ctmp_a" "$ctmp_b"; do
  [ -e "$file" ] || { echo "pairs.sh: $file does not exist" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/ctmp-pairs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
results="$work/results"

# One run: "side rate peak cpu allocated paused" from the runner's report line.
once() {
  local side=$1 ctmp=$2 setting=$3 run line
  run="$(mktemp -d "$work/run.XXXXXX")"
  line="$(env "$setting" "$ctmp" relay --quiet --dry-run --store "$run/store" --out "$run/requests" "$corpus" 2>&1 |
    grep -E "$report_line_pattern" || true)"
  [ -n "$line" ] || { echo "pairs.sh: $ctmp printed no report line (rerun it by hand: its folder is $run)" >&2; exit 1; }
  echo "$side $(echo "$line" | report_fields)" | tee -a "$results"
}

for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    once A "$ctmp_a" "$env_a"; once B "$ctmp_b" "$env_b"
  else
    once B "$ctmp_b" "$env_b"; once A "$ctmp_a" "$env_a"
  fi
done

awk '
  $1 == "A" { a_rate[++na] = $2; a_cpu[na] = $4 }
  $1 == "B" { b_rate[++nb] = $2; b_cpu[nb] = $4 }
  function median(values, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && values[j - 1] > values[j]; j--) { t = values[j]; values[j] = values[j - 1]; values[j - 1] = t }
    return (n % 2) ? values[(n + 1) / 2] : (values[n / 2] + values[n / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= na; i++) { rate[i] = b_rate[i] / a_rate[i]; cpu[i] = b_cpu[i] / a_cpu[i]; won += rate[i] > 1 }
    printf "B faster in %d of %d pairs; B / A, median of the pairs: rate %+.1f %%, CPU per input %+.1f %%\n",
      won, na, (median(rate, na) - 1) * 100, (median(cpu, na) - 1) * 100
  }' "$results"
