#!/usr/bin/env bash
# deploy/systemd/rum.service: `systemd-analyze verify` accepts it with no warning at all (it exits
# 0 on an unknown or misspelt key, so any output fails here), its command line is one rum
# accepts, and systemd waits longer than collector.shutdown_grace before SIGKILL.
# Usage: deploy/test/systemd.sh RUM_BINARY
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
unit="$repo/deploy/systemd/rum.service"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The unit as installed, with its binary path pointing at the binary under test (verify checks
# that every Exec path exists and is executable).
grep -q '/usr/local/bin/rum ' "$unit" || { echo "FAIL: the unit does not run /usr/local/bin/rum" >&2; exit 1; }
sed "s#/usr/local/bin/rum#$binary#g" "$unit" > "$work/rum.service"
if ! output="$(cd "$work" && systemd-analyze verify "$work/rum.service" 2>&1)" || [ -n "$output" ]; then
  echo "FAIL: systemd-analyze verify rum.service:" >&2
  echo "$output" >&2
  exit 1
fi

# ExecStart=rum $RUM_COMMAND, with the unit's default RUM_COMMAND: clap parses the whole line
# before a trailing --help, so an unknown subcommand or flag exits 2.
command="$(sed -n 's/^Environment=RUM_COMMAND=//p' "$unit")"
[ -n "$command" ] || { echo "FAIL: no default RUM_COMMAND" >&2; exit 1; }
# shellcheck disable=SC2086
"$binary" $command --help >/dev/null || { echo "FAIL: rum $command is not a command line rum accepts" >&2; exit 1; }
"$binary" check-config --help >/dev/null

# TimeoutStopSec must exceed collector.shutdown_grace (the built-in default, which the example
# config keeps).
stop="$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")"
grace="$(sed -n 's/^shutdown_grace = "\([0-9]*\)s"$/\1/p' "$repo/deploy/rum.example.toml")"
[ -n "$stop" ] && [ -n "$grace" ] && [ "$stop" -gt "$grace" ] \
  || { echo "FAIL: TimeoutStopSec=${stop}s must exceed collector.shutdown_grace ${grace}s" >&2; exit 1; }
echo "systemd unit ok: verify clean, rum $command, TimeoutStopSec ${stop}s > shutdown_grace ${grace}s" >&2
