#!/usr/bin/env bash
# The deployment tests (docs/deploy.md, "Tests"), against one rum binary:
#   systemd.sh       the unit file: systemd-analyze verify, its command line, its stop timeout;
#   kubernetes.mjs   every manifest against the Kubernetes schemas, and its ports, probes, flags
#                    and config against the binary (its commands run against tansu);
#   compose.mjs      docker-compose config, the mounted config, ports, scrape targets,
#                    promtool/amtool, Grafana provisioning, the front's first-party path;
#   haproxy.mjs      the CDN guide's HAProxy front, run in front of a real rum;
#   image.sh         the image built with podman from that binary, and run.
# Usage: deploy/test/run.sh RUM_BINARY       (scripts/test passes target/debug/rum)
# Needs what scripts/install-test-deps installs (podman, runc, debootstrap, docker-compose,
# systemd-analyze, nginx, haproxy, promtool, amtool, tansu, deploy/test/node_modules).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="${1:?usage: deploy/test/run.sh RUM_BINARY}"
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
export RUM_BIN="$binary"

"$here/systemd.sh" "$binary"
node --test "$here/kubernetes.mjs" "$here/compose.mjs" "$here/haproxy.mjs"
"$here/image.sh" "$binary"
