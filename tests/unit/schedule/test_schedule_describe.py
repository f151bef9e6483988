"""describe(): short English descriptions that never raise for valid expressions."""

from __future__ import annotations

import pytest

from chronos.schedule import ScheduleError, describe


@pytest.mark.parametrize(
    ("cron", "text"),
    [
        ("30 8 * * 1,3,5", "At 08:30 on Monday, Wednesday and Friday"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 * * * *", "Every hour at minute 0"),
        ("@daily", "At 00:00 every day"),
        ("@midnight", "At 00:00 every day"),
        ("0 9 1 * *", "At 09:00 on day 1 of the month"),
        ("* * * * *", "Every minute"),
        ("@hourly", "Every hour at minute 0"),
        ("@weekly", "At 00:00 on Sunday"),
        ("@monthly", "At 00:00 on day 1 of the month"),
        ("@yearly", "At 00:00 on day 1 of the month in January"),
        ("@every 1h30m", "Every 1 hour and 30 minutes"),
        ("@every 1h", "Every hour"),
        ("@every 45s", "Every 45 seconds"),
        ("5/15 * * * *", "Every 15 minutes starting at minute 5"),
        ("0 9-17 * * 1-5", "Every hour from 09:00 to 17:00 on Monday through Friday"),
        ("*/10 9-17 * * mon-fri", "Every 10 minutes during hours 9-17 on Monday through Friday"),
        ("0 0,12 1,15 * *", "At 00:00 and 12:00 on days 1 and 15 of the month"),
        ("0 8 * jan,jul *", "At 08:00 in January and July"),
        ("0 0 */2 * 1", "At 00:00 on every 2nd day of the month or on Monday"),
        ("0 0 1-31 * 1", "At 00:00 every day"),  # OR with a full day-of-month range
        ("30 8 * * 0,6", "At 08:30 on Sunday and Saturday"),
        ("0 */6 * * *", "At 00:00, 06:00, 12:00 and 18:00 every day"),
        (", * * * *", "Never (the expression matches no time)"),
    ],
)
def test_describe(cron: str, text: str) -> None:
    assert describe(cron) == text


ACCEPTED_FOR_DESCRIBE = [
    "? ? ? ? ?",
    "*-5 * * * *",
    "1,,2 * * * *",
    "* * , * *",
    "* * * , *",
    "* * * * ,",
    "* , * * *",
    "0 0 30 2 *",
    "0 0 31 4 *",
    "*/1 */1 */1 */1 */1",
    "0/60 * * * *",
    "59 23 31 12 6",
    "0-59/7 0-23/5 1-31/9 1-12/5 0-6/4",
    "1,2,3,4,5,6,7,8,9 1,2,3 * * *",
    "0 0 1 * sun",
    "0 0 ? * ?",
    "@every 0s",
    "@every 2562047h",
    "@every -1h",
    "@every 1.5s",
    "+5 * * * *",
]


@pytest.mark.parametrize("cron", ACCEPTED_FOR_DESCRIBE)
def test_never_raises(cron: str) -> None:
    text = describe(cron)
    assert isinstance(text, str)
    assert text


def test_invalid_expression_raises_schedule_error() -> None:
    with pytest.raises(ScheduleError):
        describe("61 * * * *")
