"""``python -m chronos.devcluster.relay --listen 127.0.0.1:8088 --target 10.0.0.9:80``.

The REST facade runs as pods behind a ClusterIP Service; `make up` serves it on the
host's loopback at a fixed port. This relay copies bytes between the two: each
connection goes to the Service address, where kube-proxy picks a ready pod, so a pod that
dies (or a rolling update) costs at most the connections it had open, unlike
``kubectl port-forward``, which is tied to one pod. Loopback only, by construction.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def _serve(listen: tuple[str, int], target: tuple[str, int]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(*target), timeout=10
            )
        except (OSError, TimeoutError):
            writer.close()  # the client sees a reset connection and may retry
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(handle, *listen, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chronos.devcluster.relay")
    parser.add_argument("--listen", type=_address, required=True, help="host:port (loopback)")
    parser.add_argument("--target", type=_address, required=True, help="host:port")
    args = parser.parse_args(argv)
    if args.listen[0] != "127.0.0.1":
        parser.error("--listen must be on 127.0.0.1")
    asyncio.run(_serve(args.listen, args.target))


if __name__ == "__main__":
    main()
