"""``python -m chronos.fakehub``: serve a fake CoreHub until interrupted."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chronos.fakehub.server import FakeCoreHub, server_ssl_context
from chronos.fakehub.state import FakeHubState, load_seed
from chronos.fakehub.tls import generate_tls


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chronos.fakehub", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=Path, help="JSON or YAML seed file")
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--tls-client-ca", type=Path, help="require client certificates")
    parser.add_argument(
        "--tls-generate", type=Path, metavar="DIR", help="write a self-signed CA and serve TLS"
    )
    parser.add_argument(
        "--user", action="append", default=[], metavar="NAME:PASSWORD", help="add a user"
    )
    parser.add_argument("--activate-delay", type=float)
    parser.add_argument("--stop-delay", type=float)
    parser.add_argument("--snapshot-delay", type=float)
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_generate and args.tls_cert:
        parser.error("--tls-generate replaces --tls-cert/--tls-key")
    for user in args.user:
        if ":" not in user:
            parser.error(f"--user {user!r}: expected NAME:PASSWORD")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    seed = load_seed(args.seed)
    users = dict(seed.get("users") or {})
    users.update(dict(u.split(":", 1) for u in args.user))
    seed["users"] = users
    delays = dict(seed.get("delays") or {})
    for key in ("activate", "stop", "snapshot"):
        value = getattr(args, f"{key}_delay")
        if value is not None:
            delays[key] = value
    seed["delays"] = delays
    tls = None
    if args.tls_generate:
        files = generate_tls(args.tls_generate, hosts=(args.host, "localhost"))
        tls = server_ssl_context(files.server_cert, files.server_key, args.tls_client_ca)
        print(f"fakehub CA: {files.ca_cert}", flush=True)
    elif args.tls_cert:
        tls = server_ssl_context(args.tls_cert, args.tls_key, args.tls_client_ca)
    hub = FakeCoreHub(
        FakeHubState(seed), host=args.host, port=args.port, tls=tls, verbose=args.verbose
    )
    print(f"fakehub listening on {hub.url}", flush=True)
    try:
        hub.serve_forever()
    except KeyboardInterrupt:
        sys.stderr.write("fakehub: stopped\n")


if __name__ == "__main__":
    main()
