"""Retry decisions, backoff, Retry-After and the deadline: pure functions, exhaustively."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from chronos.corehub import (
    LOST_ANSWER_STATUSES,
    RETRYABLE_STATUSES,
    CoreHubTimeoutError,
    Deadline,
    Failure,
    RetryPolicy,
    backoff,
    classify,
    decide,
    may_have_acted,
    parse_retry_after,
    retryable,
)
from chronos.http import (
    ConnectError,
    ConnectTimeout,
    PoolTimeout,
    RemoteProtocolError,
    TimeoutException,
)

POLICY = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0, max_retry_after=60.0)


@pytest.mark.parametrize("status", range(200, 600))
def test_only_429_502_503_504_statuses_are_retried(status: int) -> None:
    assert retryable(status, None, True) is (status in {429, 502, 503, 504})


@pytest.mark.parametrize("status", range(200, 600))
def test_a_command_is_resent_at_once_only_on_429_and_503(status: int) -> None:
    # 502/504 come from a proxy that may have passed the command on: verify first.
    assert retryable(status, None, False) is (status in {429, 503})


@pytest.mark.parametrize("status", range(200, 600))
def test_only_502_504_may_have_acted(status: int) -> None:
    assert may_have_acted(status, None) is (status in {502, 504})
    assert frozenset({502, 504}) == LOST_ANSWER_STATUSES


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (Failure.NOT_SENT, False),
        (Failure.TIMEOUT, True),
        (Failure.CONNECTION_LOST, True),
        (Failure.TLS_REJECTED, False),
        (Failure.NOT_APPLIED, False),
    ],
)
def test_may_have_acted_on_transport_failures(failure: Failure, expected: bool) -> None:
    assert {f for f in Failure} == {
        Failure.NOT_SENT,
        Failure.TIMEOUT,
        Failure.CONNECTION_LOST,
        Failure.TLS_REJECTED,
        Failure.NOT_APPLIED,
    }
    for status in (None, 200, 503):
        assert may_have_acted(status, failure) is expected


def test_retryable_status_set() -> None:
    assert frozenset({429, 502, 503, 504}) == RETRYABLE_STATUSES


@pytest.mark.parametrize(
    ("failure", "idempotent", "expected"),
    [
        (Failure.NOT_SENT, True, True),
        (Failure.NOT_SENT, False, True),
        (Failure.TIMEOUT, True, True),
        (Failure.TIMEOUT, False, False),
        (Failure.CONNECTION_LOST, True, True),
        (Failure.CONNECTION_LOST, False, False),
        (Failure.TLS_REJECTED, True, False),
        (Failure.TLS_REJECTED, False, False),
        (Failure.NOT_APPLIED, True, True),
        (Failure.NOT_APPLIED, False, True),
    ],
)
def test_transport_failures(failure: Failure, idempotent: bool, expected: bool) -> None:
    assert retryable(None, failure, idempotent) is expected


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (ConnectError("refused"), Failure.NOT_SENT),
        (ConnectTimeout("slow"), Failure.NOT_SENT),
        (PoolTimeout("pool"), Failure.NOT_SENT),
        (TimeoutException("read"), Failure.TIMEOUT),
        (RemoteProtocolError("Server disconnected"), Failure.CONNECTION_LOST),
        (ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] bad"), Failure.TLS_REJECTED),
    ],
)
def test_classify(exc: Exception, failure: Failure) -> None:
    assert classify(exc) is failure  # type: ignore[arg-type]


def test_classify_by_cause() -> None:
    exc = ConnectError("handshake")
    exc.__cause__ = ssl.SSLCertVerificationError("nope")
    assert classify(exc) is Failure.TLS_REJECTED


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (4, 4.0, 8.0), (5, 4.0, 8.0), (30, 4.0, 8.0)],
)
def test_backoff_grows_exponentially_with_jitter_and_a_cap(
    attempt: int, low: float, high: float
) -> None:
    assert backoff(attempt, POLICY, 0.0) == low
    assert backoff(attempt, POLICY, 0.999999) == pytest.approx(high, rel=1e-5)
    assert low <= backoff(attempt, POLICY, 0.5) <= high


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("", now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-1", now) is None
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now) == 7.0
    earlier = format_datetime(now - timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(earlier, now) == 0.0


def test_decide_backs_off_on_503() -> None:
    d = decide(
        2,
        status=503,
        failure=None,
        idempotent=True,
        retry_after=None,
        remaining=100.0,
        policy=POLICY,
        rand=0.0,
    )
    assert (d.retry, d.delay, d.out_of_time) == (True, 1.0, False)


@pytest.mark.parametrize("status", [429, 503, 502, 504])
def test_decide_honours_retry_after(status: int) -> None:
    d = decide(
        1,
        status=status,
        failure=None,
        idempotent=True,
        retry_after=4.0,
        remaining=100.0,
        policy=POLICY,
        rand=0.9,
    )
    assert (d.retry, d.delay) == (True, 4.0)


def test_decide_refuses_a_retry_after_beyond_the_policy() -> None:
    d = decide(
        1,
        status=429,
        failure=None,
        idempotent=True,
        retry_after=61.0,
        remaining=100.0,
        policy=POLICY,
        rand=0.0,
    )
    assert not d.retry
    assert not d.out_of_time
    assert "too long" in d.reason


def test_decide_gives_up_as_a_timeout_when_the_deadline_comes_first() -> None:
    d = decide(
        1,
        status=429,
        failure=None,
        idempotent=True,
        retry_after=5.0,
        remaining=4.0,
        policy=POLICY,
        rand=0.0,
    )
    assert (d.retry, d.out_of_time) == (False, True)


def test_decide_stops_after_max_attempts() -> None:
    common = {"status": None, "failure": Failure.NOT_SENT, "idempotent": True}
    d4 = decide(4, **common, retry_after=None, remaining=100.0, policy=POLICY, rand=0.0)  # type: ignore[arg-type]
    d5 = decide(5, **common, retry_after=None, remaining=100.0, policy=POLICY, rand=0.0)  # type: ignore[arg-type]
    assert d4.retry
    assert not d5.retry
    assert "5 attempts" in d5.reason


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500, 501])
def test_decide_never_retries_other_statuses(status: int) -> None:
    d = decide(
        1,
        status=status,
        failure=None,
        idempotent=True,
        retry_after=1.0,
        remaining=100.0,
        policy=POLICY,
        rand=0.0,
    )
    assert not d.retry
    assert "not retryable" in d.reason


@pytest.mark.parametrize(
    ("status", "failure"),
    [(None, Failure.CONNECTION_LOST), (None, Failure.TIMEOUT), (502, None), (504, None)],
)
@pytest.mark.parametrize("attempt", [1, 5, 9])
def test_decide_verifies_a_command_whose_answer_was_lost(
    status: int | None, failure: Failure | None, attempt: int
) -> None:
    # Whatever the attempts left: the state is read before anything else.
    d = decide(
        attempt,
        status=status,
        failure=failure,
        idempotent=False,
        retry_after=None,
        remaining=100.0,
        policy=POLICY,
        rand=0.0,
    )
    assert (d.retry, d.verify) == (False, True)
    assert "answer was lost" in d.reason


@pytest.mark.parametrize(
    ("status", "failure"),
    [(None, Failure.CONNECTION_LOST), (None, Failure.TIMEOUT), (502, None), (504, None)],
)
def test_decide_retries_a_read_whose_answer_was_lost(
    status: int | None, failure: Failure | None
) -> None:
    d = decide(
        1,
        status=status,
        failure=failure,
        idempotent=True,
        retry_after=None,
        remaining=100.0,
        policy=POLICY,
        rand=0.0,
    )
    assert (d.retry, d.verify) == (True, False)


@pytest.mark.parametrize(
    ("status", "failure"), [(None, Failure.NOT_SENT), (503, None), (429, None)]
)
def test_decide_resends_a_command_corehub_cannot_have_acted_on(
    status: int | None, failure: Failure | None
) -> None:
    d = decide(
        1,
        status=status,
        failure=failure,
        idempotent=False,
        retry_after=None,
        remaining=100.0,
        policy=POLICY,
        rand=0.0,
    )
    assert (d.retry, d.verify) == (True, False)


def test_decide_resends_a_command_shown_not_applied_within_the_budget() -> None:
    common = {"status": None, "failure": Failure.NOT_APPLIED, "idempotent": False}
    d1 = decide(1, **common, retry_after=None, remaining=100.0, policy=POLICY, rand=0.0)  # type: ignore[arg-type]
    d5 = decide(5, **common, retry_after=None, remaining=100.0, policy=POLICY, rand=0.0)  # type: ignore[arg-type]
    late = decide(1, **common, retry_after=None, remaining=0.1, policy=POLICY, rand=0.0)  # type: ignore[arg-type]
    assert (d1.retry, d1.verify, d1.delay) == (True, False, 0.5)
    assert (d5.retry, d5.verify) == (False, False)
    assert "gave up after 5 attempts" in d5.reason
    assert (late.retry, late.out_of_time) == (False, True)


def test_deadline() -> None:
    now = [100.0]
    deadline = Deadline(10.0, clock=lambda: now[0])
    assert deadline.remaining() == 10.0
    deadline.check("early")
    now[0] = 109.5
    assert deadline.remaining() == pytest.approx(0.5)
    assert not deadline.expired()
    now[0] = 111.0
    assert deadline.remaining() == 0.0
    assert deadline.expired()
    with pytest.raises(CoreHubTimeoutError, match="10s deadline passed while testing"):
        deadline.check("while testing")
