"""The stream bounds of ``chronos.api.streams`` (pure counting) and the answers the
facade gives for Kubernetes calls that could not be made (``chronos.api.errors``)."""

from __future__ import annotations

import pytest

from chronos import http
from chronos.api.errors import ProblemError, as_problem
from chronos.api.streams import RETRY_AFTER_SECONDS, StreamLimits


def test_each_identity_gets_its_own_bound_and_all_share_the_total() -> None:
    limits = StreamLimits(per_user=2, total=3)
    alice = [limits.acquire("alice"), limits.acquire("alice")]
    with pytest.raises(ProblemError) as refused:
        limits.acquire("alice")
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    assert "alice has 2 live streams open" in refused.value.detail
    limits.acquire("bob")
    with pytest.raises(ProblemError) as full:
        limits.acquire("carol")  # under her own bound, over the total
    assert full.value.status == 429
    assert "3 live streams open" in full.value.detail
    alice[0].release()
    alice[0].release()  # twice counts once
    assert (limits.open("alice"), limits.count) == (1, 2)
    limits.acquire("carol")
    alice[1].release()
    assert limits.open("alice") == 0
    assert limits.count == 2


def test_transport_failures_are_503_with_retry_after_never_500() -> None:
    for exc in (http.PoolTimeout("pool"), http.ConnectError("refused")):
        problem = as_problem(exc)
        assert problem.status == 503
        assert problem.headers is not None
        assert int(problem.headers["Retry-After"]) > 0
    assert "busy" in as_problem(http.PoolTimeout("pool")).detail
