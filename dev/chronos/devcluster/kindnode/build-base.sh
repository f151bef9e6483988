#!/usr/bin/env bash
# kind's images/base (v0.33.0) rebuilt offline on Debian bookworm: the project's debootstrap rootfs
# plus bookworm's own systemd, containerd 1.6, runc 1.1 and CNI plugins 1.1 (kind builds newer ones
# from git, which cannot be reached here), kind's files/ and the same RUN steps as its Dockerfile.
# Usage: build-base.sh ROOTFS_TAR KIND_MODULE_DIR WORK_DIR TAG [LABEL]   (DOCKER_HOST names the engine)
#   LABEL (optional): KEY=VALUE set on the image (the recipe digest kindcluster.py compares).
set -euo pipefail
rootfs_tar=${1:?rootfs tarball}; kind_dir=${2:?kind module dir}; work=${3:?work dir}; tag=${4:?tag}
label=${5:-io.chronos.kind-recipe=none}
files=$kind_dir/images/base/files
root=$work/rootfs
rm -rf "$root"; mkdir -p "$root"
tar --numeric-owner -C "$root" -xf "$rootfs_tar"
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
in_root() { chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
in_root apt-get update -q
# kind's package list less nfs-common, open-iscsi, e2fsprogs (storage e2e only) and fuse-overlayfs
# (rootless only); plus bookworm's containerd, runc and CNI plugins in place of kind's git builds.
in_root apt-get install -y -q --no-install-recommends \
  systemd systemd-sysv conntrack iptables nftables iproute2 ethtool util-linux mount kmod \
  libseccomp2 pigz bash ca-certificates curl jq procps \
  containerd runc containernetworking-plugins
umount "$root/proc"; trap - EXIT
# kind's static files, modes as its Dockerfile's COPY --chmod lines.
install -m 0755 "$files"/usr/local/bin/* "$root/usr/local/bin/"
mkdir -p "$root/kind/bin" "$root/LICENSES"
install -m 0644 "$files"/kind/README.txt "$root/kind/"
install -m 0755 "$files"/kind/bin/* "$root/kind/bin/"
install -m 0644 "$files"/LICENSES/* "$root/LICENSES/"
install -m 0644 "$files"/etc/crictl.yaml "$root/etc/"
mkdir -p "$root/etc/containerd" "$root/etc/systemd/system/kubelet.service.d"
install -m 0644 "$files"/etc/containerd/* "$root/etc/containerd/"
install -m 0644 "$files"/etc/default/* "$root/etc/default/"
install -m 0644 "$files"/etc/sysctl.d/* "$root/etc/sysctl.d/"
install -m 0644 "$files"/etc/systemd/system/*.service "$files"/etc/systemd/system/*.slice "$root/etc/systemd/system/"
install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$root/etc/systemd/system/kubelet.service.d/"
# The paths kind's units and scripts expect, pointing at bookworm's binaries.
for bin in containerd ctr containerd-shim-runc-v2; do ln -sf /usr/bin/$bin "$root/usr/local/bin/$bin"; done
ln -sf /usr/sbin/runc "$root/usr/local/sbin/runc"
mkdir -p "$root/opt/cni/bin"
for plugin in host-local loopback ptp portmap bridge; do cp "$root/usr/lib/cni/$plugin" "$root/opt/cni/bin/"; done
# This machine's capability bounding set lacks CAP_SYS_RESOURCE: nothing in the node may lower an
# oom_score_adj. containerd's unit asks systemd for -999; containerd must not lower its pods' either.
sed -i '/^OOMScoreAdjust=/d' "$root/etc/systemd/system/containerd.service"
sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$root/etc/containerd/config.toml"
# No fuse-overlayfs here (rootless only): drop its proxy plugin.
sed -i '/^\[proxy_plugins\]/,/^  address = "\/run\/containerd-fuse-overlayfs.sock"/d' "$root/etc/containerd/config.toml"
# The RUN steps of kind's Dockerfile.
in_root sh -euc '
  find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete
  rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
        /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
        /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> /etc/systemd/journald.conf
  ln -sf /usr/lib/systemd/systemd /sbin/init
  systemctl enable kubelet.service containerd.service undo-mount-hacks.service
  systemctl mask systemd-binfmt.service
  mkdir -p /etc/kubernetes/manifests
  ctr oci spec \
    | jq ".hooks.createContainer[.hooks.createContainer| length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" \
    | jq "del(.process.rlimits)" > /etc/containerd/cri-base.json
  containerd --version; runc --version
  apt-get clean
'
rm -f "$root/usr/sbin/policy-rc.d"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*
for name in etc/resolv.conf etc/hostname etc/machine-id; do rm -f "$root/$name"; : > "$root/$name"; done
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
  --change "LABEL $label" \
  - "$tag-rootfs"
rm -rf "$root"
# docker import takes no STOPSIGNAL (systemd exits on SIGRTMIN+3; SIGTERM re-executes it).
printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$tag-rootfs" | DOCKER_BUILDKIT=0 docker build -q -t "$tag" -
docker rmi "$tag-rootfs" >/dev/null
