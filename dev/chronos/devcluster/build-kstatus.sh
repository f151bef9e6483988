#!/usr/bin/env bash
# Builds the kstatus oracle (dev/chronos/devcluster/kstatus/main.go against sigs.k8s.io/cli-utils v0.37.2) into
# a cache directory outside the repository (like build-helm.sh).
# Usage: build-kstatus.sh OUT_DIR   (prints progress; OUT_DIR/.complete marks success)
set -euo pipefail
out=${1:?usage: build-kstatus.sh OUT_DIR}
here=$(cd "$(dirname "$0")/kstatus" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
mkdir -p "$out.tmp"
cd "$here"
echo "[devcluster] building kstatus ..." >&2
go build -trimpath -o "$out.tmp/kstatus" .
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
