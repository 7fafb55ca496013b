#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a bounded time each and prints executions and
# findings per target. Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET ...] (default 60 s, all).
# RUNS=N stops each target after N executions instead (SECONDS stays the upper bound), e.g.
# `RUNS=10000000 fuzz/run.sh 3600` for the 10-million goal of issue 13.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Inputs the
# fuzzer finds go to fuzz/corpus/TARGET (git-ignored); the committed seeds are in fuzz/seeds/TARGET;
# crashes land in fuzz/artifacts/TARGET (turn each into a regression test).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
runs_limit=${RUNS:--1}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(beacon_decode gzip_body route_scrub client_ip wire_decode partial_apply)
fi
export PATH="$HOME/.cargo/bin:$PATH"
cargo +nightly fuzz build --release
printf '%-15s %12s %10s %8s %s\n' target executions exec/s seconds result
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log=$(mktemp)
  status=0
  started=$(date +%s)
  cargo +nightly fuzz run --release "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -runs="$runs_limit" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(grep -Eo 'stat::number_of_executed_units: +[0-9]+' "$log" | awk '{print $2}' | tail -1 || true)
  rate=$(grep -Eo 'stat::average_exec_per_sec: +[0-9]+' "$log" | awk '{print $2}' | tail -1 || true)
  if [ "$status" -eq 0 ]; then
    result=ok
  else
    # Not a finding when the target did not even build (e.g. the tree changed under the run).
    finding=$(grep -Eo 'ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+|error(\[E[0-9]+\])?:' "$log" | head -1 || true)
    result="FAILED (exit $status): ${finding:-see the log below}"
  fi
  printf '%-15s %12s %10s %8s %s\n' "$target" "${runs:-?}" "${rate:-?}" "$(( $(date +%s) - started ))" "$result"
  [ "$status" -eq 0 ] || tail -40 "$log"
  rm -f "$log"
done
