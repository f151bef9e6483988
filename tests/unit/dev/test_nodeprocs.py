"""The pure helpers of bench/nodeprocs.py (the benchmarks' view of a kind node's processes)."""

from __future__ import annotations

from support import load_bench

npr = load_bench("nodeprocs")
ID = "8d0fbd0f80ca96e70858bc31d05914f3f0f563a590014514976ef401bff26c3b"
KUBELET = f"""9:name=systemd:/docker/{ID}/kubelet.slice/kubelet.service
4:memory:/docker/{ID}/kubelet.slice/kubelet.service
2:cpuacct:/docker/{ID}
1:cpu:/docker/{ID}/kubelet.slice/kubelet.service
0::/docker/{ID}/kubelet.slice/kubelet.service
"""
HOST = """4:memory:/user.slice
3:cpu,cpuacct:/user.slice
0::/user.slice
"""


def test_a_process_is_the_nodes_when_a_cgroup_names_the_container() -> None:
    assert npr.in_container(KUBELET, ID)
    assert npr.in_container(f"0::/system.slice/docker-{ID}.scope/init.scope\n", ID)
    assert not npr.in_container(HOST, ID)
    assert not npr.in_container(KUBELET, "f" * 64)


def test_the_process_name_is_argv0s_base_name() -> None:
    assert npr.process_name(b"/usr/local/bin/kube-apiserver\0--v=2\0") == "kube-apiserver"
    assert npr.process_name(b"etcd\0--data-dir=/var/lib/etcd\0") == "etcd"
    assert npr.process_name(b"") == ""


def test_the_containers_cpuacct_is_cut_at_its_id() -> None:
    below = f"3:cpu,cpuacct:/docker/{ID}/init.scope\n0::/docker/{ID}/init.scope\n"
    assert npr.container_cpuacct(below, ID) == f"/docker/{ID}"
    assert npr.container_cpuacct(KUBELET, ID) == f"/docker/{ID}"
    assert npr.container_cpuacct(HOST, ID) is None


def test_values_are_summed_per_process_name() -> None:
    processes = {1: "systemd", 10: "containerd-shim-runc-v2", 11: "containerd-shim-runc-v2"}
    values = {1: 0.5, 10: 1.0, 11: 2.0, 99: 7.0}
    assert npr.by_name(processes, values) == {"systemd": 0.5, "containerd-shim-runc-v2": 3.0}
