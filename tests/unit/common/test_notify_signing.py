"""Standard Webhooks signatures (chronos.notify.signing): the spec's published test
vector, round trips and tampering (hypothesis), the tolerance window, bad secrets."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronos.notify.signing import (
    SignatureError,
    SigningKeyError,
    headers,
    key_bytes,
    sign,
    verify,
)

# The example of the Standard Webhooks libraries' README and tests (an independent
# oracle: computed by their implementations, not by ours).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

keys = st.binary(min_size=24, max_size=64).map(lambda b: "whsec_" + base64.b64encode(b).decode())
ids = st.text(min_size=1, max_size=80)
stamps = st.integers(min_value=0, max_value=2**40)
bodies = st.binary(max_size=2000)


def test_the_spec_example_signs_as_published() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    verify(SPEC_SECRET, SPEC_ID, str(SPEC_TIMESTAMP), SPEC_BODY, SPEC_SIGNATURE, now=SPEC_TIMESTAMP)


def test_the_prefix_is_optional() -> None:
    bare = SPEC_SECRET.removeprefix("whsec_")
    assert sign(bare, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


@given(keys, ids, stamps, bodies)
def test_what_is_signed_verifies(key: str, msg_id: str, stamp: int, body: bytes) -> None:
    h = headers(key, msg_id, stamp, body)
    assert h["webhook-id"] == msg_id
    assert h["webhook-timestamp"] == str(stamp)
    verify(key, msg_id, h["webhook-timestamp"], body, h["webhook-signature"], now=stamp + 299)


@given(keys, ids, stamps, bodies, st.data())
def test_any_change_fails(
    key: str, msg_id: str, stamp: int, body: bytes, data: st.DataObject
) -> None:
    signature = sign(key, msg_id, stamp, body)
    which = data.draw(st.sampled_from(["body", "id", "timestamp", "key"]))
    args = {"secret": key, "msg_id": msg_id, "timestamp": str(stamp), "body": body}
    if which == "body":
        args["body"] = data.draw(bodies.filter(lambda b: b != body))
    elif which == "id":
        args["msg_id"] = data.draw(ids.filter(lambda i: i != msg_id))
    elif which == "timestamp":
        args["timestamp"] = str(stamp + data.draw(st.integers(1, 200)))
    else:
        args["secret"] = data.draw(keys.filter(lambda k: key_bytes(k) != key_bytes(key)))
    with pytest.raises(SignatureError):
        verify(**args, signatures=signature, now=stamp)  # type: ignore[arg-type]


def test_one_of_several_signatures_may_match() -> None:
    # Key rotation: the header carries a signature per key, space-separated.
    good = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    many = f"v1,AAAA v2,{good[3:]} {good}"
    verify(SPEC_SECRET, SPEC_ID, str(SPEC_TIMESTAMP), SPEC_BODY, many, now=SPEC_TIMESTAMP)
    with pytest.raises(SignatureError):
        # The same digest under another version is not a v1 signature.
        verify(
            SPEC_SECRET,
            SPEC_ID,
            str(SPEC_TIMESTAMP),
            SPEC_BODY,
            f"v2,{good[3:]}",
            now=SPEC_TIMESTAMP,
        )


@pytest.mark.parametrize("offset", [-301, 301, 10_000])
def test_outside_the_tolerance_fails(offset: int) -> None:
    with pytest.raises(SignatureError, match="tolerance"):
        verify(
            SPEC_SECRET,
            SPEC_ID,
            str(SPEC_TIMESTAMP),
            SPEC_BODY,
            SPEC_SIGNATURE,
            now=SPEC_TIMESTAMP + offset,
        )


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_inside_the_tolerance_passes(offset: int) -> None:
    verify(
        SPEC_SECRET,
        SPEC_ID,
        str(SPEC_TIMESTAMP),
        SPEC_BODY,
        SPEC_SIGNATURE,
        now=SPEC_TIMESTAMP + offset,
    )


@pytest.mark.parametrize("stamp", ["", "12.5", "abc", "1e9"])
def test_a_timestamp_that_is_not_seconds_fails(stamp: str) -> None:
    with pytest.raises(SignatureError, match="Unix seconds"):
        verify(SPEC_SECRET, SPEC_ID, stamp, SPEC_BODY, SPEC_SIGNATURE, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize(
    "secret", ["whsec_", "whsec_not*base64", "whsec_" + base64.b64encode(b"short").decode()]
)
def test_a_bad_secret_says_so_without_quoting_it(secret: str) -> None:
    with pytest.raises(SigningKeyError) as caught:
        sign(secret, "id", 1, b"")
    tail = secret.removeprefix("whsec_")
    assert not tail or tail not in str(caught.value)
