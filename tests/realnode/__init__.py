"""Tests on the real node (kubelet, containerd, kube-proxy; marker ``realnode``): the
node's fixtures are in ``fixtures.py``, and ``conftest.py`` binds the usual fixture names
to it for every module here."""
