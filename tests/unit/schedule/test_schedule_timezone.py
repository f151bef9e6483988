"""validate_time_zone: the checks of Kubernetes validateTimeZone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from chronos.schedule import ScheduleError, validate_time_zone


@pytest.mark.parametrize(
    "name",
    [
        "UTC",
        "Etc/UTC",
        "Europe/Rome",
        "America/New_York",
        "America/Argentina/Buenos_Aires",
        "America/Port-au-Prince",
        "Etc/GMT+5",
        "Etc/GMT-14",
        "GMT0",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "EST5EDT",
    ],
)
def test_valid(name: str) -> None:
    zone = validate_time_zone(name)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "timeZone must be nil or non-empty string"),
        (
            "Local",
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ),
        ("local", "timeZone must be an explicit time zone"),
        ("LOCAL", "timeZone must be an explicit time zone"),
        ("Europe/../Rome", "unknown time zone Europe/../Rome"),
        ("./UTC", "unknown time zone ./UTC"),
        ("..", "unknown time zone .."),
        ("/UTC", "unknown time zone /UTC"),
        ("UTC/", "unknown time zone UTC/"),
        ("Europe//Rome", "unknown time zone Europe//Rome"),
        ("-UTC", "unknown time zone -UTC"),
        ("Europe/-Rome", "unknown time zone Europe/-Rome"),
        ("America/Argentina_Buenos", "unknown time zone America/Argentina_Buenos"),
        ("Antarctica/DumontDUrville_X", "unknown time zone Antarctica/DumontDUrville_X"),  # > 14
        ("Europe/Rome ", "unknown time zone Europe/Rome "),
        ("Europe/Rome\n", "unknown time zone Europe/Rome\n"),  # Go's $ is end of text
        ("Europe\\Rome", "unknown time zone Europe\\Rome"),
        ("Europe/Röme", "unknown time zone Europe/Röme"),
        ("Mars/Olympus", "unknown time zone Mars/Olympus"),
        ("utc", "unknown time zone utc"),  # names are case-sensitive
        ("europe/rome", "unknown time zone europe/rome"),
    ],
)
def test_invalid(name: str, reason: str) -> None:
    with pytest.raises(ScheduleError) as info:
        validate_time_zone(name)
    assert info.value.field == "timeZone"
    assert info.value.reason.startswith(reason)
    assert str(info.value) == f"timeZone: {info.value.reason}"


def test_fourteen_characters_is_the_limit() -> None:
    # "Port_of_Spain" is 13 characters, "Argentina" 9: fine. A 15-character part is not.
    assert validate_time_zone("America/Port_of_Spain").key == "America/Port_of_Spain"
    with pytest.raises(ScheduleError):
        validate_time_zone("America/ABCDEFGHIJKLMNO")
