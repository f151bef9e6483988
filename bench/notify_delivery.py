"""Cost of notifications (chronos.notify): rendering each HTTP type, signing, and one
``deliver`` to a receiver on 127.0.0.1 (stdlib server in a thread, answering 204), with a
client made per attempt and with one shared client.

Stdlib and chronos only. Usage::

    python bench/notify_delivery.py [--deliveries N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import threading
import time
import timeit
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chronos.http import AsyncClient
from chronos.models.channels import ChannelType, ChronosChannelSpec
from chronos.models.notify import Notification
from chronos.notify import signing
from chronos.notify.payloads import render
from chronos.notify.send import deliver

KEY = "whsec_" + base64.b64encode(bytes(32)).decode()
NOTE = Notification(
    id="6f1c.run-1.failed",
    event="failed",  # type: ignore[arg-type]
    namespace="team-a",
    job="nightly-sync",
    job_uid="6f1c",
    run_id="run-1",
    reason="CoreHubError",
    message="m" * 200,
    occurred_at=datetime.now(UTC),
)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def _deliveries(url: str, count: int, shared: bool) -> list[float]:
    channel = ChronosChannelSpec.model_validate({"type": "webhook", "secretRef": {"name": "s"}})
    data = {"address": url.encode(), "signingKey": KEY.encode()}
    client = AsyncClient() if shared else None
    took = []
    for _ in range(count):
        started = time.perf_counter()
        outcome = await deliver(channel, data, NOTE, now=datetime.now(UTC), client=client)
        took.append(time.perf_counter() - started)
        assert outcome.ok, outcome
    if client is not None:
        await client.aclose()
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()
    for kind in ChannelType:
        if kind is not ChannelType.EMAIL:
            per = min(timeit.repeat(partial(render, kind, NOTE), number=2000, repeat=3))
            print(f"render {kind.value:<12} {per / 2000 * 1e6:6.1f} us")
    body = render(ChannelType.WEBHOOK, NOTE).body
    per = min(timeit.repeat(lambda: signing.sign(KEY, NOTE.id, 1, body), number=5000, repeat=3))
    print(f"sign {'':<14} {per / 5000 * 1e6:6.1f} us")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        for shared in (False, True):
            took = asyncio.run(_deliveries(url, args.deliveries, shared))
            label = "shared client" if shared else "client per attempt"
            print(
                f"deliver, {label:<19} p50 {statistics.median(took) * 1e3:5.2f} ms"
                f"  max {max(took) * 1e3:6.2f} ms  ({len(took)} deliveries)"
            )
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
