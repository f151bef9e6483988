#!/usr/bin/env bash
# Builds the tool a pinned wrapper module dev/chronos/devcluster/NAME names (its go.mod's
# `tool` line) into a cache directory outside the repository (like build-helm.sh): kind,
# CoreDNS and local-path-provisioner for kind's node image (docs/kind.md).
# Usage: build-go-tool.sh NAME OUT_DIR   (prints progress; OUT_DIR/.complete marks success)
set -euo pipefail
name=${1:?usage: build-go-tool.sh NAME OUT_DIR}
out=${2:?usage: build-go-tool.sh NAME OUT_DIR}
here=$(cd "$(dirname "$0")/$name" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
pkg=$(awk '$1 == "tool" {print $2; exit}' "$here/go.mod")
mkdir -p "$out.tmp"
cd "$here"
start=$(date +%s)
echo "[devcluster] building $pkg ..." >&2
go build -trimpath -ldflags "-s -w" -o "$out.tmp/$name" "$pkg"
echo "[devcluster] built $name in $(( $(date +%s) - start ))s" >&2
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
