#!/usr/bin/env bash
# Builds local-path-provisioner from the pinned wrapper module in dev/chronos/devcluster/local-path-provisioner into a cache directory
# outside the repository (like build-helm.sh), for kind's node image (docs/kind.md).
# Usage: build-local-path-provisioner.sh OUT_DIR   (prints progress; OUT_DIR/.complete marks success)
set -euo pipefail
out=${1:?usage: build-local-path-provisioner.sh OUT_DIR}
here=$(cd "$(dirname "$0")/local-path-provisioner" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
pkg=$(awk '$1 == "tool" {print $2; exit}' "$here/go.mod")
mkdir -p "$out.tmp"
cd "$here"
start=$(date +%s)
echo "[devcluster] building $pkg ..." >&2
go build -trimpath -ldflags "-s -w" -o "$out.tmp/local-path-provisioner" "$pkg"
echo "[devcluster] built local-path-provisioner in $(( $(date +%s) - start ))s" >&2
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
