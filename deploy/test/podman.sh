# Sourced by image.sh and measure.sh: podman as this machine class needs it, on a store of its own.
#
# podman_use WORK STORE   writes WORK/containers.conf and exports CONTAINERS_CONF (podman 4.3
#                         runs containers only with runc here, crun failing on the hybrid cgroups,
#                         and setrlimit of NPROC/NOFILE is refused, so no default ulimits), and
#                         makes `podman` keep its images, layers and containers in STORE.
# podman_discard WORK     removes every image of the store and unmounts what podman left mounted
#                         under WORK (its overlay driver keeps its directory mounted), so that
#                         `rm -rf WORK` removes everything.

podman_use() {
  cat > "$1/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF="$1/containers.conf"
  PODMAN_STORE="$2"
}

podman() { command podman --root "$PODMAN_STORE/root" --runroot "$PODMAN_STORE/run" "$@"; }

podman_discard() {
  podman rmi -a -f >/dev/null 2>&1 || true
  awk -v dir="$1/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r \
    | while read -r mount; do umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true; done
}
