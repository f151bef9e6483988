#!/usr/bin/env bash
# A kind node image assembled offline, the way `kind build node-image` does it (run the base image,
# copy kubeadm/kubelet/kubectl to /usr/bin, write /kind/version and /kind/manifests, import every
# image into its containerd, commit) but with images made here instead of fetched from a registry.
# Usage: build-node.sh BASE_TAG KUBE_BIN_DIR COREDNS LOCAL_PATH_PROVISIONER PAUSE_TAR WORK_DIR TAG [LABEL]
#   KUBE_BIN_DIR: kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler
#   kube-proxy etcd (the binaries cache); COREDNS, LOCAL_PATH_PROVISIONER: the two binaries;
#   PAUSE_TAR: the project's pause image (docker archive); LABEL (optional): KEY=VALUE set on the
#   image (the recipe digest kindcluster.py compares). DOCKER_HOST names the engine.
set -euo pipefail
base=${1:?base tag}; k8s=${2:?kube bin dir}; coredns=${3:?coredns}; lpp=${4:?local-path-provisioner}
pause_tar=${5:?pause tar}; work=${6:?work dir}; tag=${7:?tag}; label=${8:-io.chronos.kind-recipe=none}
here=$(cd "$(dirname "$0")" && pwd)
version=$("$k8s/kubelet" --version | awk '{print $2}')
rm -rf "$work"; mkdir -p "$work/images"
# The names kubeadm will ask the kubelet for.
mapfile -t wanted < <("$k8s/kubeadm" config images list --kubernetes-version "$version")
name_of() { printf '%s\n' "${wanted[@]}" | grep -E "/$1:" ; }

# One image per binary: FROM scratch where the binary is static and needs nothing else;
# kube-proxy on the base image (it runs iptables, conntrack).
image() { # image NAME FROM BINARY_PATH IN_IMAGE_PATH [ENTRYPOINT_JSON]
  local name=$1 from=$2 binary=$3 dest=$4 entry=${5:-}
  local ctx="$work/ctx-$(basename "$dest")"
  mkdir -p "$ctx"; cp "$binary" "$ctx/bin"
  {
    echo "FROM $from"
    echo "COPY bin $dest"
    [ -n "$entry" ] && echo "ENTRYPOINT $entry"
  } > "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$name" "$ctx" >/dev/null 2>"$ctx/build.err" \
    || { cat "$ctx/build.err" >&2; return 1; }
  docker save "$name" -o "$work/images/$(basename "$dest").tar"
  echo "image $name"
}
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  image "$(name_of "$cmd")" scratch "$k8s/$cmd" "/usr/local/bin/$cmd"
done
image "$(name_of kube-proxy)" "$base" "$k8s/kube-proxy" /usr/local/bin/kube-proxy
# etcd: the wrapper module's etcd (kubeadm's manifest runs `etcd` from PATH; scratch has PATH unset,
# docker then uses the default PATH, which holds /usr/local/bin).
etcd_version=$("$k8s/etcd" --version | awk '/etcd Version/ {print $3}')
image "registry.k8s.io/etcd:${etcd_version}-0" scratch "$k8s/etcd" /usr/local/bin/etcd
image "$(name_of coredns)" scratch "$coredns" /coredns '["/coredns"]'
# default-storage.yaml names the provisioner's image and its helper's: the node's base image
# (sh, mkdir, rm) under that name, sharing its one layer with kube-proxy's image.
storage_image() { awk -v n="$1" '$1 == "image:" && index($2, n) {print $2; exit}' "$here/default-storage.yaml"; }
image "$(storage_image local-path-provisioner)" scratch "$lpp" /usr/local/bin/local-path-provisioner
helper=$(storage_image kind-tools)
docker tag "$base" "$helper"
docker save "$helper" -o "$work/images/helper.tar"
echo "image $helper"
# pause: the project's static pause (node.py), retagged as the sandbox image containerd's config names.
docker load -i "$pause_tar" >/dev/null
pause_src=$(tar -xOf "$pause_tar" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RepoTags"][0])')
docker tag "$pause_src" "$(name_of pause)"
docker save "$(name_of pause)" -o "$work/images/pause.tar"
echo "image $(name_of pause)"

# The build container, as kind's createBuildContainer: sleep forever, exec into it.
id=chronos-kind-build-$$
docker run -d --entrypoint=sleep --name="$id" --security-opt seccomp=unconfined "$base" infinity >/dev/null
trap 'docker rm -f -v "$id" >/dev/null 2>&1 || true' EXIT
for bin in kubeadm:$k8s kubelet:$k8s kubectl:$k8s; do
  docker cp "${bin#*:}/${bin%%:*}" "$id:/usr/bin/${bin%%:*}"
  docker exec "$id" chmod 0755 "/usr/bin/${bin%%:*}"
  docker exec "$id" chown root:root "/usr/bin/${bin%%:*}"
done
docker exec "$id" sh -c "echo -n '$version' > /kind/version"
docker exec "$id" mkdir -p /kind/manifests /etc/cni/net.d
docker cp "$here/default-cni.yaml" "$id:/kind/manifests/default-cni.yaml"
docker cp "$here/default-storage.yaml" "$id:/kind/manifests/default-storage.yaml"
docker cp "$here/10-chronos-ptp.conflist" "$id:/etc/cni/net.d/10-chronos-ptp.conflist"
# containerd in the build container imports the archives (content only, as kind does; unpacking
# happens on the node, where /var is a volume and overlayfs is not nested).
docker exec "$id" bash -c 'nohup containerd > /dev/null 2>&1 &'
docker exec "$id" bash -c 'for i in 0 1 2 3 4 5; do [ -S /run/containerd/containerd.sock ] && break; sleep 1; done; ctr version >/dev/null'
for archive in "$work"/images/*.tar; do
  docker exec -i "$id" ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests - < "$archive" >/dev/null
done
# Pin them (containerd 1.6's import has no --label) so no GC ever removes what cannot be pulled again.
docker exec "$id" bash -c 'for ref in $(ctr -n k8s.io images list -q); do ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null; done'
docker exec "$id" ctr -n k8s.io images list -q
docker exec "$id" pkill containerd
sleep 1
docker commit \
  --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
  --change "LABEL $label" \
  "$id" "$tag" >/dev/null
rm -rf "$work"  # the image archives are in the node image now
echo "node image $tag"
