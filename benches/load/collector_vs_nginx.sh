#!/usr/bin/env bash
# Collector vs nginx under the same beacon load, one core each.
#
# Runs nginx (Debian's package, access log on, answering 204) and then `rum standalone` (answering
# 202), each pinned to SERVER_CPU, and drives both with the same wrk command pinned to CLIENT_CPU:
#   wrk -t1 -c$CONNECTIONS -d$DURATION --latency -s benches/load/beacon_mix.lua URL
# One wrk thread cannot saturate nginx, so the figure that compares is the server's CPU time per
# request (utime+stime of the whole process, all threads, from /proc/PID/stat) at the same offered
# load; rps and latency are printed beside it. See benches/load/README.md.
#
# Usage: benches/load/collector_vs_nginx.sh [VAR=value ...]     (or the same as environment)
#   RUM_BIN       collector binary (default target/release/rum; built with
#                 `cargo build --release -p rum-cli` when the default is missing)
#   DURATION      measured wrk run per server (default 20s; wrk syntax: 20s, 2m)
#   WARMUP        unmeasured wrk run before it (default 3s; 0 = none)
#   CONNECTIONS   wrk connections (default 32)
#   ONLY          both | nginx | collector (default both)
#   HYPER_FLOOR   1 = also run the collector's HTTP stack alone, answering 202 after reading the body
#                 (crates/rum-collector/examples/hyper_floor.rs; default 1 unless ONLY=nginx): what
#                 the collector costs before it does any beacon work
#   FLOOR_BIN     its binary (default target/release/examples/hyper_floor, built when missing)
#   NGINX_BODY    read | discard | both (default read): how nginx treats the POST body, see README
#   SERVER_CPU    core for the server (default 0);  CLIENT_CPU  core for wrk (default 1)
#   RUM_LOG       RUST_LOG for the collector (default info, the production default)
#   RUM_CONFIG    config file for the collector (default none: the built-in defaults, site `demo`);
#                 e.g. one with [enrich] GeoIP databases and trusted_proxies = ["127.0.0.1/32"]
#   BEACON_FORWARDED_FOR  1 = every request carries X-Forwarded-For with a public address (see
#                 beacon_mix.lua); the collector uses it only if its config trusts 127.0.0.1
#   RESULTS_DIR   where the raw wrk outputs go (default benches/results)
#   RATE          not supported: Debian's wrk has no constant-rate mode (that is wrk2's -R)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    RUM_BIN=* | DURATION=* | WARMUP=* | CONNECTIONS=* | ONLY=* | NGINX_BODY=* | SERVER_CPU=* | CLIENT_CPU=* | \
      RUM_LOG=* | RESULTS_DIR=* | RATE=* | NGINX_BIN=* | READY_TIMEOUT=* | KEEP_TMP=* | RUM_CONFIG=* | \
      BEACON_FORWARDED_FOR=* | HYPER_FLOOR=* | FLOOR_BIN=*)
      export "${arg?}" ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

die() { echo "collector_vs_nginx: error: $*" >&2; exit 1; }
note() { echo "collector_vs_nginx: $*" >&2; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
cd "$REPO_ROOT"

DEFAULT_RUM_BIN=target/release/rum
RUM_BIN=${RUM_BIN:-$DEFAULT_RUM_BIN}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
ONLY=${ONLY:-both}
DEFAULT_FLOOR_BIN=target/release/examples/hyper_floor
FLOOR_BIN=${FLOOR_BIN:-$DEFAULT_FLOOR_BIN}
if [[ "$ONLY" == nginx ]]; then HYPER_FLOOR=${HYPER_FLOOR:-0}; else HYPER_FLOOR=${HYPER_FLOOR:-1}; fi
NGINX_BODY=${NGINX_BODY:-read}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RUM_LOG=${RUM_LOG:-info}
READY_TIMEOUT=${READY_TIMEOUT:-30}
RESULTS_DIR=${RESULTS_DIR:-$REPO_ROOT/benches/results}
LUA_SCRIPT=$SCRIPT_DIR/beacon_mix.lua
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so

# ------------------------------------------------------------------------------------------------
# Checks.

if [[ -n "${RATE:-}" ]]; then
  die "RATE=$RATE: Debian's wrk has no constant-rate mode (-R is wrk2). Here \"same offered load\" means
the same wrk settings (threads=1, CONNECTIONS, DURATION) against both servers; unset RATE."
fi
case "$ONLY" in both | nginx | collector) ;; *) die "ONLY must be both, nginx or collector (got '$ONLY')" ;; esac
case "$NGINX_BODY" in read | discard | both) ;; *) die "NGINX_BODY must be read, discard or both (got '$NGINX_BODY')" ;; esac
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer (got '$CONNECTIONS')"

# wrk duration ("20s", "2m", "1h", "20") -> whole seconds, for the timeouts that bound each run.
seconds() {
  local d=$1
  case "$d" in
    *h) echo $(( ${d%h} * 3600 )) ;; *m) echo $(( ${d%m} * 60 )) ;; *s) echo $(( ${d%s} )) ;; *) echo $(( d )) ;;
  esac
}
DURATION_S=$(seconds "$DURATION") || die "cannot read DURATION=$DURATION (use e.g. 20s or 2m)"
WARMUP_S=$(seconds "$WARMUP") || die "cannot read WARMUP=$WARMUP (use e.g. 3s or 0)"
(( DURATION_S > 0 )) || die "DURATION must be at least 1s"

for tool in wrk taskset python3 curl getconf timeout awk; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed"
done
NCPU=$(getconf _NPROCESSORS_ONLN)
(( SERVER_CPU < NCPU && CLIENT_CPU < NCPU )) || die "SERVER_CPU=$SERVER_CPU / CLIENT_CPU=$CLIENT_CPU: this machine has $NCPU core(s)"
[[ "$SERVER_CPU" != "$CLIENT_CPU" ]] || note "warning: server and wrk share core $SERVER_CPU; the numbers mean little"
CLK_TCK=$(getconf CLK_TCK)

want_nginx() { [[ "$ONLY" != collector ]]; }
want_collector() { [[ "$ONLY" != nginx ]]; }

if want_nginx; then
  [[ -x "$NGINX_BIN" ]] || die "$NGINX_BIN not found (apt-get install nginx-light)"
  if [[ "$NGINX_BODY" != discard && ! -f "$ECHO_MODULE" ]]; then
    die "NGINX_BODY=$NGINX_BODY needs $ECHO_MODULE (apt-get install libnginx-mod-http-echo) to make nginx
read the body; or run with NGINX_BODY=discard (plain 'return 204', see README)"
  fi
fi

if want_collector; then
  if [[ ! -x "$RUM_BIN" ]]; then
    if [[ "$RUM_BIN" == "$DEFAULT_RUM_BIN" ]]; then
      note "$RUM_BIN is missing; running: cargo build --release -p rum-cli"
      command -v cargo >/dev/null || die "cargo is not installed; build rum or set RUM_BIN"
      cargo build --release -p rum-cli || die "cargo build --release -p rum-cli failed"
      [[ -x "$RUM_BIN" ]] || die "the build succeeded but $RUM_BIN is still missing"
    else
      die "RUM_BIN=$RUM_BIN does not exist or is not executable (build with: cargo build --release -p rum-cli)"
    fi
  fi
  case "$RUM_BIN" in target/debug/* | */target/debug/*)
    note "warning: $RUM_BIN is a debug build; its numbers say nothing about release performance" ;;
  esac
fi

if [[ "$HYPER_FLOOR" == 1 && ! -x "$FLOOR_BIN" ]]; then
  [[ "$FLOOR_BIN" == "$DEFAULT_FLOOR_BIN" ]] || die "FLOOR_BIN=$FLOOR_BIN does not exist or is not executable"
  note "$FLOOR_BIN is missing; running: cargo build --release -p rum-collector --example hyper_floor"
  cargo build --release -p rum-collector --example hyper_floor || die "building the hyper_floor example failed"
fi

# ------------------------------------------------------------------------------------------------
# Processes we start, and cleanup.

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rum-load.XXXXXX")
STARTED_PIDS=()

forget_pid() { # never signal a pid after it was reaped: by then it may be someone else's
  local i kept=()
  for i in "${STARTED_PIDS[@]}"; do [[ "$i" == "$1" ]] || kept+=("$i"); done
  STARTED_PIDS=("${kept[@]}")
}

stop_pid() { # pid: TERM, wait up to 20 s (the collector drains its sink), then KILL
  local pid=$1 i
  forget_pid "$pid"
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    note "pid $pid did not stop within 20 s of SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then note "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# CPU time of a whole process (all threads, live and exited) in clock ticks: "utime stime", fields
# 14 and 15 of /proc/PID/stat. comm (field 2) may hold spaces, so split after its closing ')'.
cpu_ticks() {
  local stat fields
  stat=$(< "/proc/$1/stat") || die "process $1 is gone"
  read -r -a fields <<< "${stat##*) }"   # fields[0] is field 3
  echo "${fields[11]} ${fields[12]}"
}

# The same for the threads of process $1 whose name (comm, as `ps -L` shows it) starts with $2:
# "utime stime".
thread_cpu_ticks() {
  local task stat fields u=0 k=0
  for task in /proc/"$1"/task/*; do
    [[ "$(< "$task/comm")" == "$2"* ]] 2>/dev/null || continue
    stat=$(< "$task/stat") || continue
    read -r -a fields <<< "${stat##*) }"
    u=$(( u + fields[11] )); k=$(( k + fields[12] ))
  done
  echo "$u $k"
}

# "utime stime" before, after (clock ticks), requests, t0, t1 -> "cpu_s us_per_req util_pct
# user_us_per_req sys_us_per_req". User and kernel time apart: on loopback the kernel share (the
# sender runs the receiver's TCP stack) is much the same for both servers; the user share is what
# each server's own code costs.
per_request() {
  awk -v b="$1" -v a="$2" -v hz="$CLK_TCK" -v n="$3" -v t0="$4" -v t1="$5" 'BEGIN {
    split(b, bb, " "); split(a, aa, " "); u = (aa[1] - bb[1]) / hz; k = (aa[2] - bb[2]) / hz; s = u + k
    printf "%.2f %.2f %.0f %.2f %.2f\n", s, s * 1e6 / n, 100 * s / (t1 - t0), u * 1e6 / n, k * 1e6 / n }'
}

# "utime stime" minus "utime stime"
ticks_minus() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); print x[1] - y[1], x[2] - y[2] }'; }

peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

http_status() { # url [curl args...] -> status code, 000 when nothing answers
  local url=$1; shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" 2>/dev/null || true
}

wait_until_ready() { # name pid url expected_status log
  local name=$1 pid=$2 url=$3 want=$4 log=$5 deadline=$((SECONDS + READY_TIMEOUT)) got
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "---- $log (last 30 lines)" >&2; tail -n 30 "$log" >&2 || true
      die "$name exited before it became ready"
    fi
    got=$(http_status "$url")
    [[ "$got" == "$want" ]] && return 0
    if (( SECONDS >= deadline )); then
      echo "---- $log (last 30 lines)" >&2; tail -n 30 "$log" >&2 || true
      die "$name not ready after ${READY_TIMEOUT}s: $url answered '$got', want $want"
    fi
    sleep 0.1
  done
}

# ------------------------------------------------------------------------------------------------
# Results.

mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RESULTS_DIR/collector_vs_nginx-$STAMP.raw
{
  echo "# collector_vs_nginx $STAMP"
  echo "# host $(uname -srm), $NCPU cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "# load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# git $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
  echo "# wrk -t1 -c$CONNECTIONS -d$DURATION --latency (warmup $WARMUP), server core $SERVER_CPU, wrk core $CLIENT_CPU"
  echo "# ONLY=$ONLY NGINX_BODY=$NGINX_BODY RUM_BIN=$RUM_BIN RUM_CONFIG=${RUM_CONFIG:-} BEACON_FORWARDED_FOR=${BEACON_FORWARDED_FOR:-0}"
  if [[ -n "${RUM_CONFIG:-}" ]]; then echo "# config:"; sed 's/^/#   /' "$RUM_CONFIG"; fi
} > "$RAW"

# Rows of the table: name|requests|rps|p50_ms|p99_ms|cpu_us_per_req|cpu_util_pct|peak_rss_kib|flag
ROWS=()
FAILED=0

# "123.45us" / "1.20ms" / "2.00s" -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { printf "?" } }'
}

run_wrk() { # url duration out_file [extra env...]
  local url=$1 duration=$2 out=$3; shift 3
  local limit=$(( $(seconds "$duration") + 60 )) wpid status=0
  # In the background and `wait`ed for, so that SIGINT/SIGTERM reach the cleanup trap at once.
  env "$@" timeout --kill-after=5 "$limit" taskset -c "$CLIENT_CPU" \
    wrk -t1 -c"$CONNECTIONS" -d"$duration" --latency -s "$LUA_SCRIPT" "$url" > "$out" 2>&1 &
  wpid=$!
  STARTED_PIDS+=("$wpid")
  wait "$wpid" || status=$?
  forget_pid "$wpid"
  if (( status != 0 )); then
    cat "$out" >&2
    die "wrk failed (exit $status) or ran over ${limit}s against $url"
  fi
}

# Returns 1 (and says so loudly) when anything but `want` came back: the per-status counts of
# beacon_mix.lua's done(), and wrk's own "Non-2xx or 3xx responses" line.
check_statuses() { # name out_file want_status
  local name=$1 out=$2 want=$3 verdict
  verdict=$(awk -v want="$want" '
    /^STATUS [0-9]+ [0-9]+$/ { if ($2 == want) seen = 1; else other += $3 }
    /^STATUS_TRACKING off/ { off = 1 }
    /Non-2xx or 3xx responses:/ { other += $NF }
    END { print (other > 0 || (!off && !seen)) ? "bad" : "ok" }' "$out")
  [[ "$verdict" == ok ]] && return 0
  {
    echo
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! $name did not answer $want to every beacon: this run does not measure beacon handling."
    grep -E '^(STATUS|NON_2XX) |Non-2xx or 3xx responses|Socket errors' "$out" | sed 's/^ */!!!   /' || true
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  } >&2
  return 1
}

# One body from the pool, POSTed by curl: shows what the server says when the load run got rejections.
show_sample_answer() { # url
  local sample=$TMP/pool.jsonl
  [[ -s "$sample" ]] || return 0
  echo "!!! one beacon from the pool, POSTed with curl:" >&2
  head -n 1 "$sample" | curl -s -i --max-time 5 -X POST -H 'Content-Type: text/plain;charset=UTF-8' \
    -H "Origin: ${BEACON_ORIGIN:-https://shop.example.com}" --data-binary @- "$1" 2>&1 | head -n 20 | sed 's/^/!!!   /' >&2 || true
  echo >&2
}

# measure name pid url want_status [thread] -> appends a row to ROWS; with a thread name, a second
# row "NAME-only" without that thread's CPU time (the collector without the aggregator beside it)
measure() {
  local name=$1 pid=$2 url=$3 want=$4 thread=${5:-}
  local warm=$TMP/$name.warmup.txt out=$TMP/$name.wrk.txt
  local before after t0 t1 requests rps p50 p99 cpu_s us_per_req util hwm flag=""
  local thread_before="0 0" thread_after="0 0"

  if (( WARMUP_S > 0 )); then
    note "$name: warmup $WARMUP"
    run_wrk "$url" "$WARMUP" "$warm" BEACON_DUMP="$TMP/pool.jsonl"
    if ! check_statuses "$name (warmup)" "$warm" "$want"; then
      show_sample_answer "$url"
      { echo; echo "===== $name (warmup, failed): $url"; cat "$warm"; } >> "$RAW"
      note "$name: not measured: it rejected beacons during the warmup"
      FAILED=1
      ROWS+=("$name|-|-|-|-|-|-|-|-|$(peak_rss_kib "$pid")|NON-$want in warmup: not measured")
      return 0
    fi
  fi

  note "$name: measuring $DURATION, wrk -t1 -c$CONNECTIONS on core $CLIENT_CPU, server on core $SERVER_CPU"
  before=$(cpu_ticks "$pid"); [[ -z "$thread" ]] || thread_before=$(thread_cpu_ticks "$pid" "$thread")
  t0=$(date +%s.%N)
  run_wrk "$url" "$DURATION" "$out"
  after=$(cpu_ticks "$pid"); [[ -z "$thread" ]] || thread_after=$(thread_cpu_ticks "$pid" "$thread")
  t1=$(date +%s.%N)
  hwm=$(peak_rss_kib "$pid")
  kill -0 "$pid" 2>/dev/null || die "$name died during the run"

  { echo; echo "===== $name: $url"; cat "$out"; } >> "$RAW"

  if ! check_statuses "$name" "$out" "$want"; then
    FAILED=1; flag="NON-${want}!"
    (( WARMUP_S > 0 )) || show_sample_answer "$url"
  fi
  if grep -q 'Socket errors' "$out"; then
    note "$name: $(grep 'Socket errors' "$out" | sed 's/^ *//')"
    [[ -n "$flag" ]] || flag="socket errors"
  fi

  requests=$(awk '/ requests in / { print $1; exit }' "$out")
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2; exit }' "$out")
  p50=$(to_ms "$(awk '/Latency Distribution/ { d = 1 } d && $1 == "50%" { print $2; exit }' "$out")")
  p99=$(to_ms "$(awk '/Latency Distribution/ { d = 1 } d && $1 == "99%" { print $2; exit }' "$out")")
  [[ "$requests" =~ ^[0-9]+$ && "$requests" -gt 0 ]] || { cat "$out" >&2; die "$name: wrk completed no requests"; }
  read -r cpu_s us_per_req util user_us sys_us < <(per_request "$before" "$after" "$requests" "$t0" "$t1")
  {
    echo "# $name: requests=$requests rps=$rps p50_ms=$p50 p99_ms=$p99 cpu_s=$cpu_s cpu_us_per_req=$us_per_req"\
      "user_us_per_req=$user_us sys_us_per_req=$sys_us server_cpu_util_pct=$util peak_rss_kib=$hwm"
  } >> "$RAW"
  grep '^BEACON_POOL' "$out" | head -n 1 | sed "s/^/# /" >> "$RAW" || true
  ROWS+=("$name|$requests|$rps|$p50|$p99|$us_per_req|$user_us|$sys_us|$util|$hwm|$flag")
  if [[ -n "$thread" ]]; then
    read -r cpu_s us_per_req util user_us sys_us < <(per_request "$(ticks_minus "$before" "$thread_before")" \
      "$(ticks_minus "$after" "$thread_after")" "$requests" "$t0" "$t1")
    echo "# $name-only (without thread $thread): cpu_s=$cpu_s cpu_us_per_req=$us_per_req" \
      "user_us_per_req=$user_us sys_us_per_req=$sys_us server_cpu_util_pct=$util" >> "$RAW"
    ROWS+=("$name-only|$requests|$rps|$p50|$p99|$us_per_req|$user_us|$sys_us|$util|$hwm|$flag")
  fi
}

# ------------------------------------------------------------------------------------------------
# nginx

nginx_conf() { # dir port mode
  local dir=$1 port=$2 mode=$3 handler
  if [[ "$mode" == read ]]; then
    # echo_read_request_body reads the whole body into memory (content phase); echo_status makes
    # the (empty) answer a 204. A bare `return 204` would only discard the body (see README).
    handler="echo_read_request_body;
            echo_status 204;"
  else
    handler="return 204;"
  fi
  cat <<EOF
$([[ "$mode" == read ]] && echo "load_module $ECHO_MODULE;")
worker_processes 1;
master_process off;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 4096;
}
http {
    # Debian's default: the combined format, one write per request.
    access_log $dir/access.log combined;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server_tokens off;
    # Keep-alive connections for the whole run, as the collector does (nginx closes after 1000
    # requests by default, which would charge it reconnects the collector does not pay).
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$port;
        location = /rum/v1/beacon {
            client_max_body_size 64k;
            client_body_buffer_size 64k;
            client_body_in_single_buffer on;
            $handler
        }
        location / {
            return 404;
        }
    }
}
EOF
}

run_nginx() { # mode
  local mode=$1 name="nginx-$1" dir=$TMP/nginx-$1 port pid lines_before lines_after
  mkdir -p "$dir"
  port=$(free_port)
  nginx_conf "$dir" "$port" "$mode" > "$dir/nginx.conf"
  "$NGINX_BIN" -t -q -c "$dir/nginx.conf" -p "$dir" 2> "$dir/config-test.log" \
    || { cat "$dir/config-test.log" >&2; die "nginx rejected its config $dir/nginx.conf"; }
  taskset -c "$SERVER_CPU" "$NGINX_BIN" -c "$dir/nginx.conf" -p "$dir" > "$dir/stdout.log" 2>&1 &
  pid=$!
  STARTED_PIDS+=("$pid")
  if [[ "$mode" == read ]]; then
    note "$name: pid $pid on 127.0.0.1:$port (reads each body: echo_read_request_body + echo_status 204)"
  else
    note "$name: pid $pid on 127.0.0.1:$port (return 204: nginx discards each body unparsed)"
  fi
  # Readiness: any route answers; / is 404.
  wait_until_ready "$name" "$pid" "http://127.0.0.1:$port/" 404 "$dir/error.log"

  lines_before=$(wc -l < "$dir/access.log" 2>/dev/null || echo 0)
  measure "$name" "$pid" "http://127.0.0.1:$port/rum/v1/beacon?key=demo" 204
  lines_after=$(wc -l < "$dir/access.log")
  echo "# $name: access log +$((lines_after - lines_before)) lines during warmup+run, $(du -k "$dir/access.log" | cut -f1) KiB" >> "$RAW"
  note "$name: access log has $lines_after lines"
  stop_pid "$pid"
  [[ "${KEEP_TMP:-0}" == 1 ]] || rm -f "$dir/access.log"   # hundreds of MB on long runs
}

# ------------------------------------------------------------------------------------------------
# The collector's HTTP stack alone (hyper_floor)

run_floor() {
  local name=hyper-floor dir=$TMP/floor port pid
  mkdir -p "$dir"
  port=$(free_port)
  taskset -c "$SERVER_CPU" "$FLOOR_BIN" "127.0.0.1:$port" > "$dir/floor.log" 2>&1 &
  pid=$!
  STARTED_PIDS+=("$pid")
  note "$name: pid $pid ($FLOOR_BIN) on 127.0.0.1:$port (reads each body, answers 202, does nothing else)"
  # A GET has an empty body, which it answers 400: that it answers at all is enough.
  wait_until_ready "$name" "$pid" "http://127.0.0.1:$port/rum/v1/beacon?key=demo" 400 "$dir/floor.log"
  measure "$name" "$pid" "http://127.0.0.1:$port/rum/v1/beacon?key=demo" 202
  stop_pid "$pid"
}

# ------------------------------------------------------------------------------------------------
# Collector

metric_value() { # admin_port metric_name -> value (sum over label sets), 0 if absent
  local text
  text=$(curl -s --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null) || text=""
  awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f", s }' <<< "$text"
}

run_collector() {
  local name=collector dir=$TMP/collector port admin pid accepted_before accepted_after
  mkdir -p "$dir"
  port=$(free_port)
  admin=$(free_port)
  [[ "$port" != "$admin" ]] || admin=$(free_port)
  # rum reads every RUM_* variable as config and rejects the ones without a SECTION__KEY shape, so
  # this script's own RUM_BIN / RUM_LOG must not reach it (RUM_CONFIG and RUM_X__Y pass through).
  env -u RUM_BIN -u RUM_LOG RUST_LOG="$RUM_LOG" RUM_COLLECTOR__WORKER_THREADS=1 RUM_AGGREGATOR__STATE_DIR= \
    taskset -c "$SERVER_CPU" "$RUM_BIN" standalone --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" > "$dir/rum.log" 2>&1 &
  pid=$!
  STARTED_PIDS+=("$pid")
  note "$name: pid $pid ($RUM_BIN) on 127.0.0.1:$port, admin 127.0.0.1:$admin; waiting for /readyz"
  wait_until_ready "$name" "$pid" "http://127.0.0.1:$admin/readyz" 200 "$dir/rum.log"

  accepted_before=$(metric_value "$admin" rum_collector_beacons_accepted_total)
  # rum standalone runs the aggregator's stages on threads of their own (rum_aggregator::pipeline::
  # AGGREGATOR_THREAD_PREFIX); the "collector-only" row leaves them out: the edge's own cost per beacon.
  measure "$name" "$pid" "http://127.0.0.1:$port/rum/v1/beacon?key=demo" 202 rum-stage
  accepted_after=$(metric_value "$admin" rum_collector_beacons_accepted_total)
  echo "# $name: rum_collector_beacons_accepted_total +$((accepted_after - accepted_before)) during warmup+run" >> "$RAW"
  note "$name: beacons accepted during warmup+run (from /metrics): $((accepted_after - accepted_before))"
  # The mix is meant to be valid through and through: rejected events or ignored members mean the
  # generator and the collector disagree about the format.
  curl -s --max-time 2 "http://127.0.0.1:$admin/metrics" 2>/dev/null \
    | awk '/^(rum_collector_(requests_total|beacons_|events_|ignored_total)|rum_dropped_total)/ && $NF != 0 { print "# metrics: " $0 }' \
    >> "$RAW" || true
  local odd
  odd=$(( $(metric_value "$admin" rum_dropped_total) + $(metric_value "$admin" rum_collector_ignored_total) ))
  if (( odd > 0 )); then
    note "WARNING: the collector rejected events or ignored members of the mix ($odd; see '# metrics:' in $RAW)"
  fi
  { echo "# $name: last lines of its log"; tail -n 20 "$dir/rum.log" | sed 's/^/#   /'; } >> "$RAW"
  stop_pid "$pid"
}

# ------------------------------------------------------------------------------------------------
# Run

note "results: $RAW"
if want_nginx; then
  case "$NGINX_BODY" in
    both) run_nginx read; run_nginx discard ;;
    *) run_nginx "$NGINX_BODY" ;;
  esac
fi
[[ "$HYPER_FLOOR" == 1 ]] && run_floor
want_collector && run_collector

# The reference for the ratio: the nginx that reads the body when it ran, else the discarding one.
REF=""
for row in "${ROWS[@]}"; do
  IFS='|' read -r name _ _ _ _ us _ _ _ _ _ <<< "$row"
  [[ "$name" == nginx-read ]] && REF=$us
done
if [[ -z "$REF" ]]; then
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name _ _ _ _ us _ _ _ _ _ <<< "$row"
    [[ "$name" == nginx-discard ]] && REF=$us
  done
fi

print_table() {
  printf '%-14s %10s %8s %9s %9s %11s %8s %8s %9s %8s %10s  %s\n' \
    server requests rps p50_ms p99_ms "CPU_us/req" user_us sys_us vs_nginx srv_CPU peak_RSS ""
  local row name requests rps p50 p99 us user_us sys_us util hwm flag ratio
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name requests rps p50 p99 us user_us sys_us util hwm flag <<< "$row"
    ratio=$(awk -v a="$us" -v b="$REF" 'BEGIN {
      if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a / b; else printf "-" }')
    printf '%-14s %10s %8s %9s %9s %11s %8s %8s %9s %7s%% %7.1fMiB  %s\n' \
      "$name" "$requests" "$rps" "$p50" "$p99" "$us" "$user_us" "$sys_us" "$ratio" "$util" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" "$flag"
  done
}

{
  echo
  echo "wrk -t1 -c$CONNECTIONS -d$DURATION, server pinned to core $SERVER_CPU, wrk to core $CLIENT_CPU;" \
    "CPU = utime+stime of the server process (all threads) / requests"
  print_table
} | tee -a "$RAW"
echo "raw wrk outputs: $RAW"

if (( FAILED )); then
  die "some server answered something other than its success status; see the !!! lines above"
fi
