#!/usr/bin/env bash
# kind's tools cold, as CI builds them (docs/kind.md section 10): empty Go module and build caches,
# the Kubernetes binaries first (build-binaries.sh), then CoreDNS, local-path-provisioner and kind
# from dev/chronos/devcluster/kindtools with the same caches. Prints each step's wall/user time,
# the Go build cache entries it added (about two per compiled package) and the load average.
#
# Usage: bash bench/kindtools_cold.sh [WORK_DIR]   (default /tmp/kindtools-cold; emptied first,
#        about 4.5 GB while it runs, removed at the end except the binaries)
#   SKIP_KUBERNETES=1: no Kubernetes build first (the tools alone, nothing shared).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/kindtools-cold}
devcluster=$repo/dev/chronos/devcluster
if [ -e "$work" ]; then chmod -R u+w "$work"; rm -rf "$work"; fi
export GOMODCACHE=$work/mod GOCACHE=$work/cache
mkdir -p "$GOMODCACHE" "$GOCACHE"
entries() { find "$GOCACHE" -type f | wc -l; }
step() {  # NAME COMMAND...
  local name=$1 before
  shift
  before=$(entries)
  echo "load before $name: $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -f "$name: %e s wall, %U s user, %S s sys" "$@" 2>&1 | { grep -v '^go: downloading' || true; }
  echo "$name: Go build cache +$(( $(entries) - before )) entries"
}
if [ -z "${SKIP_KUBERNETES:-}" ]; then
  step kubernetes bash "$devcluster/build-binaries.sh" "$work/bin/k8s"
fi
started=$(date +%s)
step coredns bash "$devcluster/build-go-tool.sh" kindtools ./cmd/coredns "$work/bin/coredns"
step local-path-provisioner bash "$devcluster/build-go-tool.sh" kindtools \
  github.com/rancher/local-path-provisioner "$work/bin/local-path-provisioner"
step kind bash "$devcluster/build-go-tool.sh" kindtools sigs.k8s.io/kind "$work/bin/kind"
echo "kind's tools together: $(( $(date +%s) - started )) s; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$work/bin/coredns/coredns" -plugins | tr '\n' ' '
echo
chmod -R u+w "$GOMODCACHE"
rm -rf "$GOMODCACHE" "$GOCACHE"
