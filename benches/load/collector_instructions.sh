#!/usr/bin/env bash
# User-space instructions per beacon of `rum standalone` under the beacon mix, counted by callgrind.
#
# Wall-clock CPU per beacon on a shared VM drifts by more than most single changes are worth; the
# instruction count of the same load repeats to ~1%. This runs the collector under valgrind
# (callgrind, instrumentation off until the warmup is done), drives it with wrk and
# benches/load/beacon_mix.lua for WARMUP then DURATION seconds, and prints:
#   total:      every instruction of the process in the measured window / beacons accepted
#   collector:  the connection tasks and the beacon handler tasks they spawn (hyper, decode, enrich,
#               encode, enqueue), without the aggregator thread and the tokio scheduler around them
#   runtime:    everything the collector's tokio runtime ran (the above, the scheduler, timers)
# The aggregator's share is over-weighted here: valgrind slows the request rate ~50x, so its
# once-a-second flush covers fewer beacons than at full speed.
#
# Usage: benches/load/collector_instructions.sh [RUM_BIN] (default target/release/rum)
#   DURATION (8), WARMUP (3), CONNECTIONS (8) from the environment; CLIENT_CPU (1) pins wrk;
#   MIX (benches/load/beacon_mix.lua) and ENDPOINT (/rum/v1/beacon) pick another load, e.g.
#   MIX=benches/load/one_vital.lua ONE_VITAL_FORMAT=web_vitals ENDPOINT=/rum/v1/web-vitals.
#   KEEP_PROFILE=FILE keeps callgrind_annotate's inclusive listing, KEEP_RAW=FILE the raw profile
#   (for callgrind_annotate --tree=caller, or a script reading who calls what).
# Needs valgrind (callgrind_control, callgrind_annotate), wrk, curl, python3. Loopback only; stops
# everything it started.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$SCRIPT_DIR/../.."
RUM_BIN=${1:-target/release/rum}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-8}
CLIENT_CPU=${CLIENT_CPU:-1}
MIX=${MIX:-benches/load/beacon_mix.lua}
ENDPOINT=${ENDPOINT:-/rum/v1/beacon}

die() { echo "collector_instructions: error: $*" >&2; exit 1; }
for tool in valgrind callgrind_control callgrind_annotate wrk curl python3 taskset; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed"
done
[[ -x "$RUM_BIN" ]] || die "$RUM_BIN is missing (cargo build --release -p rum-cli)"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
PORT=$(free_port)
ADMIN=$(free_port)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rum-callgrind.XXXXXX")
PID=""
cleanup() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# No state directory: the run starts empty and leaves nothing behind.
RUST_LOG=warn RUM_COLLECTOR__WORKER_THREADS=1 RUM_AGGREGATOR__STATE_DIR= valgrind --tool=callgrind \
  --instr-atstart=no --callgrind-out-file="$TMP/callgrind.out.%p" \
  "$RUM_BIN" standalone --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" > "$TMP/rum.log" 2>&1 &
PID=$!
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$ADMIN/readyz" > /dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { cat "$TMP/rum.log" >&2; die "rum exited before it became ready"; }
  sleep 1
done
curl -sf "http://127.0.0.1:$ADMIN/readyz" > /dev/null || die "rum did not become ready within 120 s"

accepted() {
  curl -s --max-time 10 "http://127.0.0.1:$ADMIN/metrics" | awk '/^rum_collector_beacons_accepted_total/ { print $2 }'
}
load() { # seconds
  timeout $(( $1 + 60 )) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${1}s" \
    -s "$MIX" "http://127.0.0.1:$PORT$ENDPOINT?key=demo" > "$TMP/wrk.txt" 2>&1 \
    || { cat "$TMP/wrk.txt" >&2; die "wrk failed"; }
}

load "$WARMUP"
before=$(accepted)
callgrind_control -i on "$PID" > /dev/null
load "$DURATION"
callgrind_control -i off "$PID" > /dev/null
after=$(accepted)
callgrind_control -d "$PID" > /dev/null
sleep 1
kill "$PID"; wait "$PID" 2>/dev/null || true
PID=""

beacons=$(( ${after%.*} - ${before%.*} ))
(( beacons > 0 )) || die "no beacons were accepted during the measured run"
profile=$(ls -t "$TMP"/callgrind.out.*.1 2>/dev/null | head -n 1)
[[ -n "$profile" ]] || die "callgrind wrote no profile"
callgrind_annotate --inclusive=yes "$profile" > "$TMP/inclusive.txt" 2>/dev/null
[[ -n "${KEEP_PROFILE:-}" ]] && cp "$TMP/inclusive.txt" "$KEEP_PROFILE"
[[ -n "${KEEP_RAW:-}" ]] && cp "$profile" "$KEEP_RAW"
total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$TMP/inclusive.txt")
# The connection task (the future spawned per accepted socket in rum_collector::server) plus the
# beacon handler, which runs on a task of its own (so a client disconnect cannot cancel it). The
# handler is spawned boxed, so its poll shows as the boxed future's (`Pin<P>`'s, the largest such
# entry); builds before that show it under its own closure name.
inclusive_of() {
  awk -v symbol="$1" 'index($0, symbol) { gsub(",", "", $1); print $1; exit }' "$TMP/inclusive.txt"
}
connection=$(inclusive_of "server.rs:rum_collector::server::Collector::run::{{closure}}::{{closure}}")
handler=$(inclusive_of "server.rs:rum_collector::server::handle_public::{{closure}}::{{closure}}")
[[ -n "$handler" ]] || handler=$(inclusive_of "<core::pin::Pin<P> as core::future::future::Future>::poll")
collector=$(( ${connection:-0} + ${handler:-0} ))
# Everything the collector's runtime ran (its multi-thread workers: connections, handlers, the
# scheduler, timers, the sink's tasks), without the aggregator's thread.
runtime=$(inclusive_of "tokio::runtime::scheduler::multi_thread::worker::run")
echo "beacons=$beacons total_per_beacon=$(( total / beacons )) collector_per_beacon=$(( ${collector:-0} / beacons )) runtime_per_beacon=$(( ${runtime:-0} / beacons ))"
