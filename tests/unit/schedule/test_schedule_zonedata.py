"""zonedata: every real change of a zone's UTC offset is among the instants it lists."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from importlib import resources
from zoneinfo import ZoneInfo

import pytest

from chronos.schedule.zonedata import offset_changes, parse_tzif

ZONES = [
    "Europe/Rome",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Antarctica/Troll",
    "Africa/Casablanca",
    "America/Godthab",
    "Asia/Jerusalem",
    "Asia/Tokyo",
]


def _tzdata_bytes(zone: str) -> bytes:
    *folders, leaf = zone.split("/")
    return resources.files(".".join(["tzdata.zoneinfo", *folders])).joinpath(leaf).read_bytes()


@pytest.mark.parametrize("zone", ZONES)
def test_every_offset_change_is_listed(zone: str) -> None:
    # The tzdata package's files are "slim": recent changes come from the footer rule.
    data = _tzdata_bytes(zone)
    parsed = parse_tzif(data)
    assert parsed is not None
    changes, _ = parsed
    reference = ZoneInfo.from_file(io.BytesIO(data), key=zone)
    start, end = (int(datetime(y, 1, 1, tzinfo=UTC).timestamp()) for y in (2015, 2035))
    step, seen = 3600, 0
    before = datetime.fromtimestamp(start, reference).utcoffset()
    for t in range(start + step, end, step):
        now = datetime.fromtimestamp(t, reference).utcoffset()
        if now != before:
            seen += 1
            assert changes.between(t - step, t), (zone, datetime.fromtimestamp(t, UTC))
            assert not changes.constant(t - step, t)
        before = now
    if zone != "Asia/Tokyo":
        assert seen > 0  # the scan found changes to check
    else:
        assert changes.constant(start, end)


def test_a_file_not_understood_gives_no_answer() -> None:
    assert parse_tzif(b"not a tzif file") is None
    assert parse_tzif(_tzdata_bytes("Europe/Rome")[:60]) is None
    assert offset_changes("Europe/Rome") is not None
