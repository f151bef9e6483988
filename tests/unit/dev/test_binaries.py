"""The pinned Go wrapper modules (chronos.devcluster.binaries): cache keys and shared versions."""

from __future__ import annotations

import re
from pathlib import Path

from chronos.devcluster import binaries

#: Modules kind's tools may select at another version than the Kubernetes build, and why:
#: CoreDNS needs a later caddy than the one kubeadm's corefile-migration asks for, and caddy's
#: packages are compiled for CoreDNS only (kubeadm is linked from the Kubernetes build's own).
OWN_VERSION = {"github.com/coredns/caddy"}


def selected(go_mod: Path) -> dict[str, str]:
    """Module -> version a wrapper builds with: its requirement, or its replacement's."""
    text = go_mod.read_text()
    required: dict[str, str] = dict(
        re.findall(r"^(?:require )?\t?(\S+) (v\S+)(?: // indirect)?$", text, re.M)
    )
    replaced: dict[str, str] = dict(
        re.findall(r"^(?:replace )?\t?(\S+) => \S+ (v\S+)$", text, re.M)
    )
    return {module: replaced.get(module, version) for module, version in required.items()}


def test_kinds_tools_build_the_kubernetes_builds_versions_of_every_module_both_use() -> None:
    kubernetes = selected(binaries.CONTROL_PLANE.wrapper / "go.mod")
    tools = selected(binaries.COREDNS.wrapper / "go.mod")
    shared = sorted(set(kubernetes) & set(tools) - OWN_VERSION)
    assert {"k8s.io/client-go", "google.golang.org/grpc", "golang.org/x/net"} <= set(shared)
    differing = {m: (tools[m], kubernetes[m]) for m in shared if tools[m] != kubernetes[m]}
    assert differing == {}


def test_the_go_spew_replacement_is_seen_as_the_version_built() -> None:
    # CoreDNS requires a later go-spew; the replacement is what keeps apimachinery shared.
    tools = selected(binaries.COREDNS.wrapper / "go.mod")
    assert tools["github.com/davecgh/go-spew"] == "v1.1.1"


def test_kinds_tools_share_one_wrapper_and_are_named_by_their_package() -> None:
    tools = (binaries.KIND, binaries.COREDNS, binaries.LOCAL_PATH_PROVISIONER)
    assert [t.binaries for t in tools] == [("kind",), ("coredns",), ("local-path-provisioner",)]
    assert {t.folder for t in tools} == {binaries.KIND_TOOLS}
    assert binaries.COREDNS.script_args == (binaries.KIND_TOOLS, "./cmd/coredns")


def test_a_one_line_require_names_the_version() -> None:
    # kindtools/go.mod requires CoreDNS directly, on a `require module version` line of its own.
    assert binaries.COREDNS.version() == "v1.12.0"
    assert binaries.KIND.version() == "v0.33.0"
    assert binaries.LOCAL_PATH_PROVISIONER.version() == "v0.0.30"


def test_the_module_digest_changes_with_any_file_of_the_module(tmp_path: Path) -> None:
    (tmp_path / "cmd" / "coredns").mkdir(parents=True)
    (tmp_path / "go.mod").write_text("module x\n")
    (tmp_path / "go.sum").write_text("")
    main = tmp_path / "cmd" / "coredns" / "main.go"
    main.write_text("package main\n")
    before = binaries.module_digest(tmp_path)
    assert binaries.module_digest(tmp_path) == before

    main.write_text("package main // another plugin\n")
    edited = binaries.module_digest(tmp_path)
    assert edited != before

    patch = tmp_path / "patches" / "example.com" / "m.patch"
    patch.parent.mkdir(parents=True)
    patch.write_text("")
    added = binaries.module_digest(tmp_path)
    assert added not in (before, edited)

    # The same bytes under another name are another module.
    patch.rename(patch.with_name("n.patch"))
    assert binaries.module_digest(tmp_path) not in (before, edited, added)


def test_the_cache_folder_follows_the_module_digest() -> None:
    directory = binaries.COREDNS.cache_dir()
    digest = binaries.module_digest(binaries.COREDNS.wrapper)
    assert directory.parent.name == f"coredns-v1.12.0-{digest}"
    assert directory.name == "bin"
