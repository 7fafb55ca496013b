#!/usr/bin/env bash
# The image's footprint, for benches/README.md ("Deployment") and the Kubernetes requests and
# limits: image size, time from `podman run` to /readyz 200, resident memory idle and under the
# beacon load of benches/load/beacon_mix.lua (wrk, bounded in time), and CPU per beacon.
#
# Usage: deploy/test/measure.sh RELEASE_BINARY [DURATION]     (DURATION: wrk syntax, default 20s)
#
# Roles measured: `rum standalone` (in-process pipeline); with tansu installed
# (scripts/install-test-deps) also `rum collector` writing to tansu on loopback (memory://
# storage) with an overflow spool, and one `rum aggregator` worker reading what it wrote.
# The container runs with --network host on free loopback ports, its process pinned to core 0
# with one tokio worker (RUM_COLLECTOR__WORKER_THREADS=1), wrk pinned to core 1, as
# benches/load/collector_vs_nginx.sh does; tansu shares core 1 with wrk. Everything started here
# is stopped on exit.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
binary="${1:?usage: deploy/test/measure.sh RELEASE_BINARY [DURATION]}"
duration="${2:-20s}"
image="localhost/rum:measure-$$"
tansu="${TANSU:-$HOME/.cargo/bin/tansu}"
work="$(mktemp -d)"
# image.sh builds into this store and leaves the image there; everything is removed on exit.
export RUM_PODMAN_STORE="$work/store"
# shellcheck source=deploy/test/podman.sh
. "$repo/deploy/test/podman.sh"
podman_use "$work" "$RUM_PODMAN_STORE"
containers=()
tansu_pid=""

cleanup() {
  for name in "${containers[@]}"; do podman rm -f -v -t 0 "$name" >/dev/null 2>&1 || true; done
  [ -z "$tansu_pid" ] || kill "$tansu_pid" 2>/dev/null || true
  podman_discard "$work"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Builds the image exactly as the test does, and reports its size and start-up.
"$repo/deploy/test/image.sh" "$binary" --tag "$image" --measure 2>"$work/image.log" \
  | tee "$work/image.out" || { cat "$work/image.log" >&2; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wait_ready() {
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0
    sleep 0.05
  done
  echo "not ready: $(curl -s "http://127.0.0.1:$1/readyz")" >&2
  return 1
}

# start NAME VOLUME_DIR ARGS... : runs the image detached with its volumes in VOLUME_DIR; echoes
# the container's main process id.
start() {
  local name="$1" dir="$2"
  shift 2
  mkdir -p "$dir/state" "$dir/spool"
  chown 10001:10001 "$dir/state" "$dir/spool"
  podman run -d --name "$name" --network host --read-only --no-healthcheck \
    -v "$dir/state:/var/lib/rum/state" -v "$dir/spool:/var/lib/rum/spool" \
    -e RUM_COLLECTOR__WORKER_THREADS=1 "$@" >/dev/null
  containers+=("$name")
  podman inspect -f '{{.State.Pid}}' "$name"
}

# load ROLE PID PUBLIC_PORT: idle RSS, then wrk for $duration, then RSS, peak RSS and CPU/beacon.
load() {
  local role="$1" pid="$2" port="$3" ticks_before ticks_after requests rps hz
  sleep 5
  local idle
  idle="$(rss_mib "$pid")"
  taskset -a -cp 0 "$pid" >/dev/null
  ticks_before="$(cpu_ticks "$pid")"
  (cd "$repo/benches/load" && taskset -c 1 wrk -t1 -c32 -d"$duration" --latency -s beacon_mix.lua \
    "http://127.0.0.1:$port/rum/v1/beacon?key=demo") > "$work/wrk-$role.txt"
  ticks_after="$(cpu_ticks "$pid")"
  hz="$(getconf CLK_TCK)"
  requests="$(awk '/requests in/ { print $1 }' "$work/wrk-$role.txt")"
  rps="$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$work/wrk-$role.txt")"
  local p99 non2xx
  p99="$(awk '$1 == "99%" { print $2 }' "$work/wrk-$role.txt")"
  non2xx="$(awk '/Non-2xx/ { print $NF }' "$work/wrk-$role.txt")"
  echo "MEASURE role=$role idle_rss_mib=$idle load_rss_mib=$(rss_mib "$pid") peak_rss_mib=$(hwm_mib "$pid") requests=$requests rps=$rps p99=$p99 non_2xx=${non2xx:-0} cpu_us_per_beacon=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
}

# rum standalone: the image's default command.
public="$(free_port)"
admin="$(free_port)"
pid="$(start rum-measure-standalone "$work/standalone" \
  -e RUM_COLLECTOR__LISTEN="127.0.0.1:$public" -e RUM_COLLECTOR__ADMIN_LISTEN="127.0.0.1:$admin" \
  "$image" standalone)"
wait_ready "$admin"
load standalone "$pid" "$public"

if [ -x "$tansu" ]; then
  broker_port="$(free_port)"
  url="tcp://127.0.0.1:$broker_port"
  (cd "$work" && exec taskset -c 1 "$tansu" broker --listener-url "$url" --advertised-listener-url "$url" \
    --storage-engine memory://tansu/ > "$work/tansu.log" 2>&1) &
  tansu_pid=$!
  for _ in $(seq 1 200); do
    python3 -c "import socket,sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $broker_port)))" && break
    sleep 0.05
  done
  brokers="127.0.0.1:$broker_port"
  # Four partitions each: one worker, one collector; the compose and Kubernetes configs use 12.
  topics_env=(-e RUM_TOPICS__BEACONS__PARTITIONS=4 -e RUM_TOPICS__PARTIALS__PARTITIONS=4)
  podman run --rm --network host --no-healthcheck "${topics_env[@]}" "$image" topics create --brokers "$brokers" \
    > "$work/topics.log" 2>&1 || { cat "$work/topics.log" >&2; exit 1; }

  public="$(free_port)"
  admin="$(free_port)"
  # The spool as deploy/kubernetes configures it, and the producer queue docs/operations.md
  # recommends with a spool.
  pid="$(start rum-measure-collector "$work/collector" \
    -e RUM_COLLECTOR__LISTEN="127.0.0.1:$public" -e RUM_COLLECTOR__ADMIN_LISTEN="127.0.0.1:$admin" \
    -e RUM_SPOOL__DIR=/var/lib/rum/spool -e RUM_KAFKA__QUEUE_MESSAGES=10000 \
    "$image" collector --brokers "$brokers")"
  wait_ready "$admin"

  worker_admin="$(free_port)"
  worker_pid="$(start rum-measure-aggregator "$work/aggregator" -e RUM_AGGREGATOR__START_FROM=earliest \
    "$image" aggregator --brokers "$brokers" --listen-admin "127.0.0.1:$worker_admin")"
  wait_ready "$worker_admin"
  sleep 5
  worker_idle="$(rss_mib "$worker_pid")"
  load collector "$pid" "$public"
  # The worker reads what the collector wrote; its memory after the burst is what a worker
  # catching up holds (librdkafka's prefetch plus the windows).
  sleep 10
  echo "MEASURE role=aggregator idle_rss_mib=$worker_idle after_load_rss_mib=$(rss_mib "$worker_pid") peak_rss_mib=$(hwm_mib "$worker_pid") lag=$(curl -s "http://127.0.0.1:$worker_admin/metrics" | awk '/^rum_aggregator_consumer_lag/ { s += $NF } END { print s + 0 }')"
else
  echo "no tansu at $tansu (scripts/install-test-deps installs it): collector and aggregator not measured" >&2
fi
