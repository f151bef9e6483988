#!/usr/bin/env bash
# Builds one package of a pinned wrapper module dev/chronos/devcluster/FOLDER (a `tool` of its
# go.mod, or a main package of its own) into a cache directory outside the repository (like
# build-helm.sh): kind, CoreDNS and local-path-provisioner for kind's node image (docs/kind.md).
# The environment and flags are build-binaries.sh's, so that packages the wrapper shares with the
# Kubernetes binaries at the same versions come from the Go build cache, not a compile.
#
# FOLDER/patches/<module path>.patch (optional): a fix to a dependency's source, applied to a
# copy of that module which the build uses instead (`go mod edit -replace` in a copy of the
# wrapper). Go refuses -overlay for files in the module cache, hence the copy.
# Usage: build-go-tool.sh FOLDER PACKAGE OUT_DIR  (prints progress; OUT_DIR/.complete marks success)
set -euo pipefail
usage="usage: build-go-tool.sh FOLDER PACKAGE OUT_DIR"
folder=${1:?$usage}
pkg=${2:?$usage}
out=${3:?$usage}
here=$(cd "$(dirname "$0")/$folder" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
src=$here
if [ -d "$here/patches" ]; then
  src=$out.tmp/src
  mkdir -p "$src"
  cp -R "$here/." "$src/"
  while IFS= read -r patch; do
    module=${patch#"$here/patches/"}
    module=${module%.patch}
    dir=$(cd "$here" && go mod download -json "$module" | awk -F'"' '$2 == "Dir" {print $4}')
    copy=$src/patched/$module
    mkdir -p "$(dirname "$copy")"
    cp -R "$dir" "$copy"
    chmod -R u+w "$copy"
    patch -s -p1 -d "$copy" < "$patch"
    (cd "$src" && go mod edit -replace "$module=./patched/$module")
  done < <(find "$here/patches" -name '*.patch' | sort)
fi
start=$(date +%s)
echo "[devcluster] building $pkg ..." >&2
(cd "$src" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/" "$pkg")
echo "[devcluster] built $(basename "$pkg") in $(( $(date +%s) - start ))s" >&2
rm -rf "$out.tmp/src"
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
