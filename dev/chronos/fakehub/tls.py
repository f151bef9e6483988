"""Self-signed TLS material for the fake CoreHub: a CA, a server and a client certificate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chronos.devcluster.certs import CertificateAuthority


@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def generate_tls(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TLSFiles:
    """Write a fresh CA and a server and client certificate it signs into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority(directory, "fake CoreHub CA")
    server = ca.issue("server", hosts[0], server_hosts=hosts)
    client = ca.issue("client", "chronos-runner")
    return TLSFiles(
        ca_cert=ca.pair.cert,
        server_cert=server.cert,
        server_key=server.key,
        client_cert=client.cert,
        client_key=client.key,
    )
