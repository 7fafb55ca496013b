#!/usr/bin/env bash
# Builds the container image (deploy/container/Containerfile) with Debian's podman and runs it:
# a beacon is answered 202, /metrics is served, the process is not root, the HEALTHCHECK passes,
# and SIGTERM stops it cleanly within the grace period. docs/deploy.md, "Container image".
#
# Usage: deploy/test/image.sh RUM_BINARY [--tag NAME] [--measure]
#
# What this machine class needs, found by trying (docs/deploy.md, "Testing the image"):
#   - podman 4.3 runs containers only with runc (crun fails on the hybrid cgroups here), and
#     setrlimit of NPROC/NOFILE is refused, so a containers.conf of our own sets
#     `runtime = "runc"` and `default_ulimits = []`;
#   - no image registry is reachable: the base image is built from Debian packages
#     (debootstrap --variant=minbase, then podman import) and passed as DEBIAN_IMAGE; it is cached
#     in ~/.cache/rum-deploy as a tarball, keyed by suite and package list, so only the first run
#     pays (~70 s here); later runs import it (a few seconds);
#   - no Rust toolchain can be fetched inside a container (and Debian's rustc is too old for
#     edition 2024), so the builder does not compile: PREBUILT=prebuilt makes it copy the binary
#     cargo already built (stripped of debug info here) and the health probe (compiled here with
#     the host's rustc) from the build context, on the same debootstrapped base as RUST_IMAGE.
#
# --measure also prints the image size, the time from `podman run` to /readyz 200, and the
# resident memory at idle (the figures in benches/README.md, "Deployment").
# podman runs on a store of its own (images, layers, containers) inside the work directory,
# removed on any exit, so nothing this test builds or runs stays in the machine's store. A caller
# that runs the image further (measure.sh) passes its own store as RUM_PODMAN_STORE and removes
# it itself.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
binary="${1:?usage: deploy/test/image.sh RUM_BINARY [--tag NAME] [--measure]}"
shift
measure=0
image="localhost/rum:test-$$"
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) image="${2:?--tag needs a name}"; shift ;;
    --measure) measure=1 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
[ -x "$binary" ] || { echo "no executable at $binary" >&2; exit 2; }

suite=bookworm
packages=libssl3,ca-certificates
cache="${RUM_DEPLOY_CACHE:-$HOME/.cache/rum-deploy}"
key="$(printf '%s minbase %s' "$suite" "$packages" | sha256sum | cut -c1-12)"
base_image="localhost/rum-test-base:$key"
base_tar="$cache/base-$suite-$key.tar"
container="rum-image-test-$$"

work="$(mktemp -d)"
# shellcheck source=deploy/test/podman.sh
. "$repo/deploy/test/podman.sh"
podman_use "$work" "${RUM_PODMAN_STORE:-$work/store}"
cleanup() {
  # One name per call: podman 4.3 removes nothing when one of several names does not exist.
  for name in "$container" "$container-hc"; do podman rm -f -v -t 0 "$name" >/dev/null 2>&1 || true; done
  [ -n "${RUM_PODMAN_STORE:-}" ] || podman_discard "$work"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The mirror apt already uses on this machine (a deb822 .sources file or sources.list), so the
# base image comes from where the rest of the system's packages do; debootstrap's default
# otherwise.
apt_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '
      /^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      /^$/ { if (ok && uri != "") { print uri; exit } uri = ""; ok = 0 }
      END { if (ok && uri != "") print uri }' "$file" | head -n1
  done
  [ -f /etc/apt/sources.list ] \
    && awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list
  return 0
}

if ! podman image exists "$base_image"; then
  if [ ! -s "$base_tar" ]; then
    mirror="$(apt_mirror | head -n1)"
    echo "building the base image: debootstrap --variant=minbase --include=$packages $suite ${mirror:-(default mirror)} (one-off)" >&2
    mkdir -p "$cache"
    rootfs="$work/rootfs"
    started=$SECONDS
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" ${mirror:+"$mirror"} \
      > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
    # Nothing of this tree but its libraries and CA bundle reaches the final image, so it is not
    # trimmed; apt's lists would only make the cached tar larger.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -cf "$base_tar.partial" .
    mv "$base_tar.partial" "$base_tar"
    echo "debootstrap took $((SECONDS - started)) s; cached in $base_tar" >&2
  fi
  started=$SECONDS
  podman import -q "$base_tar" "$base_image" >/dev/null
  echo "base image $base_image imported from $base_tar in $((SECONDS - started)) s" >&2
fi

# The build context: the binaries, and the one file the Containerfile copies from the repo.
context="$work/context"
mkdir -p "$context/deploy/container" "$context/prebuilt"
objcopy --strip-debug "$binary" "$context/prebuilt/rum"
rustc --edition 2021 -O -C strip=symbols "$repo/deploy/container/healthcheck.rs" \
  -o "$context/prebuilt/rum-healthcheck"
cp "$repo/deploy/container/rum.toml" "$context/deploy/container/rum.toml"

started=$SECONDS
podman build -q --format docker --network host \
  --build-arg RUST_IMAGE="$base_image" --build-arg DEBIAN_IMAGE="$base_image" --build-arg PREBUILT=prebuilt \
  --build-arg REVISION="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)" \
  -f "$repo/deploy/container/Containerfile" -t "$image" "$context" > "$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; exit 1; }
echo "image built in $((SECONDS - started)) s" >&2

fail() { echo "FAIL: $*" >&2; podman logs "$container" 2>&1 | tail -n 20 >&2 || true; exit 1; }

# What the image says about itself.
user="$(podman image inspect -f '{{.Config.User}}' "$image")"
[ "$user" = "10001:10001" ] || fail "image user is '$user', expected 10001:10001"
healthcheck="$(podman image inspect -f '{{.Config.Healthcheck.Test}}' "$image")"
case "$healthcheck" in *rum-healthcheck*9100*/healthz*) ;; *) fail "no HEALTHCHECK on the admin port: $healthcheck" ;; esac
for label in title version revision licenses; do
  value="$(podman image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$label\"}}" "$image")"
  [ -n "$value" ] || fail "label org.opencontainers.image.$label missing"
done
volumes="$(podman image inspect -f '{{json .Config.Volumes}}' "$image")"
for volume in /var/lib/rum/state /var/lib/rum/spool; do
  case "$volumes" in *"\"$volume\""*) ;; *) fail "$volume is not a volume: $volumes" ;; esac
done
# Nothing but the binaries, their libraries, CA certificates and rum's own files: no shell.
if podman run --rm --network none --entrypoint /bin/sh "$image" -c true >/dev/null 2>&1; then
  fail "the image has a shell"
fi

# Names resolve in an image without /etc/nsswitch.conf or NSS modules (glibc's built-in files
# and dns): brokers and Alertmanagers are usually named, not numbered. A refused connection
# means the name was found.
resolved="$(podman run --rm --network none --no-healthcheck --add-host rum-test-name:127.0.0.1 \
  --entrypoint /usr/local/bin/rum-healthcheck "$image" rum-test-name:1 / 2>&1 || true)"
case "$resolved" in *"Connection refused"*) ;; *) fail "host names do not resolve in the image: $resolved" ;; esac

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
public_port="$(free_port)"
admin_port="$(free_port)"
while [ "$admin_port" = "$public_port" ]; do admin_port="$(free_port)"; done
grace=15

# The image's two volumes as directories of this run, owned by the image's user as a Kubernetes
# fsGroup or a chowned volume would be (anonymous volumes would outlive the test).
mkdir -p "$work/state" "$work/spool" "$work/hc-state" "$work/hc-spool"
chown 10001:10001 "$work/state" "$work/spool" "$work/hc-state" "$work/hc-spool"
volumes_of() { echo "-v $work/$1state:/var/lib/rum/state -v $work/$1spool:/var/lib/rum/spool"; }

# --network host: no container network is needed (none may be configured on a test machine), so
# the listeners are moved onto free loopback ports with the config's own override variables. The
# root filesystem is read-only, as in the Kubernetes manifests; the state volume is the only place
# standalone writes.
started_ns=$(date +%s%N)
# shellcheck disable=SC2046
podman run -d --name "$container" --network host --read-only --no-healthcheck $(volumes_of "") \
  -e RUM_COLLECTOR__LISTEN="127.0.0.1:$public_port" \
  -e RUM_COLLECTOR__ADMIN_LISTEN="127.0.0.1:$admin_port" \
  -e RUM_COLLECTOR__SHUTDOWN_GRACE="${grace}s" \
  "$image" standalone >/dev/null

ready=0
for _ in $(seq 1 300); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin_port/readyz")" = 200 ]; then
    ready=1
    break
  fi
  [ "$(podman inspect -f '{{.State.Running}}' "$container")" = true ] || fail "the container exited"
  sleep 0.05
done
ready_ms=$(( ($(date +%s%N) - started_ns) / 1000000 ))
[ "$ready" = 1 ] || fail "/readyz not 200 within 15 s"
echo "ready ${ready_ms} ms after podman run" >&2

# A browser's beacon (curl's own user agent is on the crawler list and would be dropped).
status="$(curl -s -o "$work/answer" -w '%{http_code}' "http://127.0.0.1:$public_port/rum/v1/beacon?key=demo" \
  -H 'Content-Type: text/plain;charset=UTF-8' -H 'Origin: https://shop.example.com' \
  -A 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' \
  --data-binary @"$repo/crates/rum-schema/fixtures/beacon_full.json")"
[ "$status" = 202 ] || fail "beacon answered $status: $(cat "$work/answer")"
grep -q '"accepted":' "$work/answer" || fail "beacon answer: $(cat "$work/answer")"
script_status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$public_port/rum.js")"
[ "$script_status" = 200 ] || fail "/rum.js answered $script_status"
curl -sf "http://127.0.0.1:$admin_port/metrics" > "$work/metrics" || fail "/metrics did not answer 200"
grep -q '^rum_collector_beacons_accepted_total 1$' "$work/metrics" \
  || fail "/metrics does not count the beacon: $(grep beacons_accepted "$work/metrics")"

# Who it runs as, from the kernel's view of the process.
pid="$(podman inspect -f '{{.State.Pid}}' "$container")"
uids="$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
[ "$uids" = "10001 10001 10001 10001" ] || fail "process uids are $uids, expected 10001"
# The image's own HEALTHCHECK, pointed at the port this run uses.
podman exec "$container" /usr/local/bin/rum-healthcheck "127.0.0.1:$admin_port" /healthz \
  || fail "rum-healthcheck failed against /healthz"
if podman exec "$container" /usr/local/bin/rum-healthcheck "127.0.0.1:$admin_port" /no-such-path 2>/dev/null; then
  fail "rum-healthcheck passed on a 404"
fi

# The HEALTHCHECK as the image defines it, against the image's own default config: a container
# with a network namespace of its own (no network at all), so its 127.0.0.1:9100 is free whatever
# runs on this machine. (podman logs that it cannot add a systemd timer for the check where
# systemd is not running; `podman healthcheck run` does not need one.)
# shellcheck disable=SC2046
podman run -d --name "$container-hc" --network none --read-only $(volumes_of hc-) "$image" > /dev/null 2> "$work/hc-run.log" \
  || { cat "$work/hc-run.log" >&2; fail "the default command did not start"; }
healthy=0
for _ in $(seq 1 100); do
  if podman healthcheck run "$container-hc" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.1
done
podman rm -f -v -t 0 "$container-hc" >/dev/null 2>&1 || true
[ "$healthy" = 1 ] || fail "the image's HEALTHCHECK never passed with its default config"

if [ "$measure" = 1 ]; then
  sleep 5
  rss_kib="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")"
  size="$(podman image inspect -f '{{.Size}}' "$image")"
  echo "MEASURE image_bytes=$size ready_ms=$ready_ms idle_rss_kib=$rss_kib"
fi

# SIGTERM, as `podman stop`, Docker and the kubelet send it: rum must exit 0 by itself well within
# its grace (the -t is only the point where podman would SIGKILL).
started=$SECONDS
podman stop -t $((grace + 10)) "$container" >/dev/null
stopped_after=$((SECONDS - started))
exit_code="$(podman inspect -f '{{.State.ExitCode}}' "$container")"
[ "$exit_code" = 0 ] || fail "exit code $exit_code after SIGTERM"
[ "$stopped_after" -le "$grace" ] || fail "took ${stopped_after} s to stop, grace is ${grace} s"
podman logs "$container" 2>&1 | grep -q 'shutdown signal received' || fail "no 'shutdown signal received' in the log"
# standalone saved its windows at shutdown, in the state volume (the root filesystem is read-only).
[ -s "$work/state/standalone-stage2.state" ] || fail "no saved state in the state volume: $(ls -la "$work/state")"

echo "image test passed: $(podman image inspect -f '{{.Size}}' "$image") bytes, ready in ${ready_ms} ms, stopped in ${stopped_after} s" >&2
