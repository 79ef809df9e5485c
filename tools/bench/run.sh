#!/usr/bin/env bash
# The end-to-end throughput figures of docs/performance.md in one command:
#   tools/bench/run.sh [--count N] [--runs R] [--seed S] [--latency-ms L] [--work DIR] [--no-send] [--no-floor] [--azure M]
#                      [--store-format sqlite|log] [--naive]
# Publishes ctmp (Release, Native AOT), generates an NDJSON corpus of N commercetools deliveries (default 100,000, seed 7), then runs
#   1. ctmp relay --dry-run on it R times (default 3), each on a fresh store in a folder of its own (kept, without its
#      large files, until the script ends: about 100 MB per 100,000 deliveries);
#   2. ctmp relay sending for real to a local Events API fake on 127.0.0.1 (tools/bench/events-api-fake.mjs, answering
#      202 after L ms, default 0), R times;
#   3. the floor: System.Text.Json parse + serialize of the corpus's first 20,000 lines (BenchmarkDotNet).
# and prints each as a median with its range, and the peak memory, from the runner's own report line. With --azure M,
# also the storage transactions on Azure Tables per input (ingest) and per delivered event (push) for M deliveries on
# Azurite (StorageEconomyTests; needs `npm ci` for Azurite; about M / 100 seconds).
# --store-format sqlite runs the relay on a SQLite store instead of the state log (ADR 0007, the default since 2026-12-06).
# --naive also runs the issue's yardstick after each dry run: a plain Node relay on mParticle's official Node SDK
# (tools/bench/naive-relay.mjs; no state, dedupe, consent or checks) posting the same corpus to the Events API fake;
# it installs the SDK (npm, mparticle@1.0.8) into the work folder, not the repository.
# Needs the .NET SDK and Node.js; nothing leaves the machine. Takes about R x 2 x N / 2,500 seconds plus the floor's minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=report-line.sh
. tools/bench/report-line.sh

count=100000 runs=3 seed=7 latency=0 work="${TMPDIR:-/tmp}/ctmp-bench" send=1 floor=1 azure="" format=log naive=0
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --latency-ms) latency="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --no-send) send=0; shift ;;
    --no-floor) floor=0; shift ;;
    --azure) azure="$2"; shift 2 ;;
    --store-format) format="$2"; shift 2 ;;
    --naive) naive=1; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

mkdir -p "$work"
# ctmp as it is published for this machine: Release, Native AOT (see ctmp.csproj and docs/adr/0008; needs clang).
case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64 | arm64) rid=linux-arm64 ;;
  *) echo "run.sh: no .NET runtime identifier known for $(uname -m)" >&2; exit 2 ;;
esac
command -v clang > /dev/null || { echo "run.sh: the native publish links with clang: install clang and zlib1g-dev (Debian: apt-get install clang zlib1g-dev)" >&2; exit 2; }
echo "== publish (Release, $rid, Native AOT)"
dotnet publish -c Release -r "$rid" tools/ctmp -o "$work/ctmp" --nologo -v q > "$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
ctmp="$work/ctmp/ctmp"

corpus="$work/corpus-$count-$seed.ndjson"
if [ ! -s "$corpus" ]; then
  echo "== corpus: $count deliveries, seed $seed"
  "$ctmp" generate --count "$count" --seed "$seed" --out "$corpus" > /dev/null
fi
echo "corpus $corpus ($(du -h "$corpus" | cut -f1))"

# Each run's folder stays until the script ends. Deleting the thousands of small files a run leaves (request files,
# quarantine records) made the next run's file creations slower: ext4 without a journal, as on this project's
# machines, passes over every free inode deleted in the last minute (five, while its inode table is unwritten) each
# time it allocates one for a new file, and that search took up to 10 % of a run's CPU samples (docs/performance.md,
# "a twelfth session"). The few large files (the store's log and index runs) go at once, to bound the disk use.
runs_dir="$work/runs"
rm -rf "$runs_dir"
mkdir -p "$runs_dir"
cleanup() { if [ -n "${fake:-}" ]; then kill "$fake" 2>/dev/null || true; fi; rm -rf "$runs_dir"; }
trap cleanup EXIT

# One relay run on a fresh store (with --dry-run: its request files in the run's folder); prints
# "inputs_per_second peak_mb cpu_us_per_input allocated_kb_per_input gc_paused_seconds" from the runner's report line.
relay_once() {
  local run
  run="$(mktemp -d "$runs_dir/run.XXXXXX")"
  local mode=()
  [ "${1:-}" = --dry-run ] && mode=(--dry-run --out "$run/requests")
  local line
  line="$("$ctmp" relay --quiet --store "$run/store" --store-format "$format" "${mode[@]}" "$corpus" 2>&1 | grep -E "$report_line_pattern" || true)"
  [ -n "$line" ] || { echo "run.sh: the relay run printed no report line (rerun it by hand to see why; its folder is $run)" >&2; exit 1; }
  echo "$line" | report_fields
  find "$run" -type f -size +1M -delete
}

# Passes each run's "rate mb cpu kb gc" line on, and shows it on standard error as it comes.
show() { while read -r rate mb cpu kb gc; do echo "  run: $rate inputs/s, $mb MB, $cpu µs CPU per input, $kb KB allocated per input, $gc s paused for garbage collection" >&2; echo "$rate $mb $cpu $kb $gc"; done; }

# Reads "rate mb cpu kb gc" lines and prints "median (min–max) inputs/s, peak max MB, median CPU per input, median KB
# allocated per input, median seconds paused for garbage collection". The CPU per input (all threads, user and system)
# moves less than the rate on a shared machine; the bytes allocated per input hardly move with the machine: compare
# builds by them. The collector's pauses stop every thread: what fewer long-lived objects save shows there.
summarize() {
  local runs; runs="$(cat)"
  local cpu; cpu="$(echo "$runs" | awk '{ print $3 }' | sort -n | awk '{ c[NR]=$1 } END { printf "%d µs CPU per input median (%d–%d)", (NR%2) ? c[(NR+1)/2] : (c[NR/2]+c[NR/2+1])/2, c[1], c[NR] }')"
  local kb; kb="$(echo "$runs" | awk '{ print $4 }' | sort -n | awk '{ k[NR]=$1 } END { printf "%.1f KB allocated per input median", (NR%2) ? k[(NR+1)/2] : (k[NR/2]+k[NR/2+1])/2 }')"
  local gc; gc="$(echo "$runs" | awk '{ print $5 }' | sort -n | awk '{ g[NR]=$1 } END { printf "%.2f s paused for garbage collection median (%.2f–%.2f)", (NR%2) ? g[(NR+1)/2] : (g[NR/2]+g[NR/2+1])/2, g[1], g[NR] }')"
  echo "$runs" | sort -n | awk -v cpu="$cpu" -v kb="$kb" -v gc="$gc" '{ r[NR]=$1; if ($2>m) m=$2 } END { med = (NR%2) ? r[(NR+1)/2] : (r[NR/2]+r[NR/2+1])/2;
    printf "%d inputs/s median (%d–%d, %d runs), peak memory up to %d MB, %s, %s, %s\n", med, r[1], r[NR], NR, m, cpu, kb, gc }'
}

# Starts the Events API fake (answering after $1 ms) and sets $fake (its process) and $port.
start_fake() {
  fake_log="$work/fake.log"
  node tools/bench/events-api-fake.mjs --latency-ms "$1" > "$fake_log" 2>&1 &
  fake=$!
  for _ in $(seq 50); do grep -q '^listening' "$fake_log" 2>/dev/null && break; sleep 0.1; done
  port="$(sed -n 's/^listening //p' "$fake_log")"
  [ -n "$port" ] || { echo "run.sh: the Events API fake did not start: $(cat "$fake_log")" >&2; exit 1; }
}
stop_fake() { kill "$fake"; wait "$fake" 2>/dev/null || true; fake=""; }

# One run of the naive relay; prints "inputs_per_second 0 0 0" (no memory, CPU or allocation figure) from its report line.
naive_once() {
  local line
  line="$(node tools/bench/naive-relay.mjs --sdk "$work/naive" --url "http://127.0.0.1:$port/v2" "$corpus" 2>&1 | grep -E '^naive-relay: ' || true)"
  [ -n "$line" ] || { echo "run.sh: the naive relay printed no report line (rerun it by hand to see why)" >&2; exit 1; }
  case "$line" in *failed*) echo "run.sh: $line" >&2; exit 1 ;; esac
  echo "$line" | sed -E 's/.*\(([0-9,]+) inputs\/s\).*/\1 0 0 0/; s/,//g'
}

if [ "$naive" = 1 ]; then
  echo "== the naive relay's SDK (npm install mparticle@1.0.8 into $work/naive)"
  mkdir -p "$work/naive"
  [ -d "$work/naive/node_modules/mparticle" ] || npm install --prefix "$work/naive" --no-save --no-audit --no-fund mparticle@1.0.8 > "$work/naive.log" 2>&1 ||
    { cat "$work/naive.log" >&2; exit 1; }
  start_fake 0
fi

echo "== ctmp relay --dry-run, $runs runs$([ "$naive" = 1 ] && echo ", each followed by a run of the naive relay")"
: > "$work/dry.runs"; : > "$work/naive.runs"
for _ in $(seq "$runs"); do
  relay_once --dry-run | show >> "$work/dry.runs"
  if [ "$naive" = 1 ]; then
    naive_once | { read -r rate _ _ _; echo "  naive: $rate inputs/s" >&2; echo "$rate 0 0 0 0"; } >> "$work/naive.runs"
  fi
done
dry="$(summarize < "$work/dry.runs")"
echo "dry run: $dry"
if [ "$naive" = 1 ]; then
  stop_fake
  naived="$(summarize < "$work/naive.runs" | sed -E 's/, peak memory.*//')"
  echo "naive:   $naived ($(tail -n 1 "$fake_log"))"
fi

if [ "$send" = 1 ]; then
  echo "== ctmp relay sending to a local Events API fake (${latency} ms per request), $runs runs"
  start_fake "$latency"
  sent="$(for _ in $(seq "$runs"); do
      CTMP_MPARTICLE_API_KEY=bench CTMP_MPARTICLE_API_SECRET=bench CTMP_MParticle__Inputs__0__BaseUrl="http://127.0.0.1:$port/v2" relay_once
    done | show | summarize)"
  stop_fake
  echo "sent:    $sent ($(tail -n 1 "$fake_log"))"
fi

if [ "$floor" = 1 ]; then
  echo "== floor: System.Text.Json parse + serialize of the first 20,000 lines (BenchmarkDotNet)"
  rm -rf "$work/bdn"
  CTMP_BENCH_CORPUS="$corpus" dotnet run -c Release --project tools/benchmarks -- --filter '*CorpusFloor*' --exporters json --artifacts "$work/bdn" > "$work/floor.log" 2>&1 \
    || { tail -n 30 "$work/floor.log" >&2; exit 1; }
  report="$(ls -t "$work"/bdn/results/*CorpusFloor*-report-full*.json 2>/dev/null | head -n 1)"
  [ -n "$report" ] && grep -q '"Median"' "$report" || { echo "run.sh: BenchmarkDotNet measured nothing; see $work/floor.log" >&2; exit 1; }
  lines=$(( count < 20000 ? count : 20000 ))
  floored="$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1])); const s = r.Benchmarks[0].Statistics;
    console.log(`${Math.round(process.argv[2] / (s.Median / 1e9))} inputs/s (median of ${s.N} iterations over ${process.argv[2]} lines)`)' "$report" "$lines")"
  echo "floor:   $floored"
fi

if [ -n "$azure" ]; then
  echo "== storage transactions on Azure Tables (Azurite), $azure deliveries"
  CTMP_ECONOMY_INPUTS="$azure" dotnet test tests/CtMparticle.Tool.Tests --filter "FullyQualifiedName~IngestAndPushOnAzure" \
    --logger "console;verbosity=detailed" > "$work/azure.log" 2>&1 || { tail -n 40 "$work/azure.log" >&2; exit 1; }
  tables="$(grep -E '^ +(ingest|push): ' "$work/azure.log" | sort -u | sed -E 's/^ +//; s/; .*//')"
  [ -n "$tables" ] || { echo "run.sh: the storage economy test printed no figures; see $work/azure.log" >&2; exit 1; }
  echo "$tables"
fi

# The first number of a "median ..." line.
median_of() { echo "$1" | awk '{ print $1 }'; }

echo "== summary ($count deliveries, seed $seed, $format store)"
echo "dry run: $dry"
[ "$send" = 1 ] && echo "sent:    $sent" \
  && echo "sent / dry run: $(awk -v s="$(median_of "$sent")" -v d="$(median_of "$dry")" 'BEGIN { printf "%d %%", 100 * s / d }') (the target: within 20 %, so 80 % or more)"
[ "$naive" = 1 ] && echo "naive:   $naived" \
  && echo "dry run / naive relay: $(awk -v n="$(median_of "$naived")" -v d="$(median_of "$dry")" 'BEGIN { printf "%d %% (the naive relay %.1f times as fast)", 100 * d / n, n / d }')"
[ "$floor" = 1 ] && echo "dry run / floor: 1/$(awk -v f="$(median_of "$floored")" -v d="$(median_of "$dry")" 'BEGIN { printf "%d", f / d }') of the System.Text.Json floor"
[ -n "$azure" ] && echo "azure ($azure deliveries): $(echo "$tables" | sed -E 's/ +/ /g' | paste -sd ';' | sed 's/;/; /g') (the targets: at most 2 per input, 1 per delivered event)"
exit 0
