"""The one builder of CoreHub request targets: any value is exactly one encoded segment."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronos.corehub import UnsafeIdError, paths
from chronos.models.rules import COREHUB_ID

#: Any text a user (or an attacker) could put in an id, lone surrogates aside (JSON and
#: YAML cannot carry them; ``test_a_lone_surrogate_is_refused`` covers them).
ANY = st.text(min_size=1).filter(lambda v: v not in (".", ".."))
#: Texts made of the characters that move a request when left unencoded.
HOSTILE = st.text(alphabet="/?#%.:@&=+; \\\x00\n\u00e9", min_size=1).filter(
    lambda v: v not in (".", "..")
)
VALUES = st.one_of(ANY, HOSTILE)


@given(VALUES)
def test_any_value_is_one_segment_that_decodes_back(value: str) -> None:
    encoded = paths.segment(value)
    for char in "/?#":
        assert char not in encoded
    assert encoded not in ("", ".", "..")
    assert unquote(encoded, errors="strict") == value
    # Nothing but unreserved characters and %XX escapes.
    assert all(c.isascii() and (c.isalnum() or c in "-._~%") for c in encoded)


@given(st.from_regex(COREHUB_ID.regex, fullmatch=True))
def test_a_valid_id_is_sent_as_written(value: str) -> None:
    # The models' pattern admits only characters the encoding leaves alone.
    assert paths.segment(value) == value


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_empty_and_dot_segments_are_refused(value: str) -> None:
    with pytest.raises(UnsafeIdError, match="cannot be a CoreHub path segment"):
        paths.segment(value)


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(UnsafeIdError, match="cannot be encoded"):
        paths.segment("a\ud800")


@given(pipeline=VALUES, action=VALUES)
def test_a_path_keeps_its_template_whatever_the_values(pipeline: str, action: str) -> None:
    built = paths.path(paths.SYNC_COMMAND, pipeline=pipeline, action=action)
    parts = urlsplit(built)
    assert (parts.query, parts.fragment) == ("", "")
    segments = parts.path.split("/")
    assert segments[:2] == ["", "pipelines"]
    assert segments[3:5] == ["commands", "sync"]
    assert len(segments) == 6
    assert [unquote(segments[2]), unquote(segments[5])] == [pipeline, action]


@given(st.lists(st.tuples(VALUES, VALUES), max_size=4))
def test_a_query_decodes_to_the_same_pairs(params: list[tuple[str, str]]) -> None:
    built = paths.target(paths.path(paths.PIPELINES), params)
    parts = urlsplit(built)
    assert parts.path == "/pipelines"
    assert parts.fragment == ""
    assert parse_qsl(parts.query, keep_blank_values=True) == params


@pytest.mark.parametrize(
    "template", ["/pipelines/{p}x", "/pipelines/x{p}", "/pipelines/{p!r}", "/pipelines/{p:>9}"]
)
def test_a_placeholder_must_fill_a_whole_segment(template: str) -> None:
    with pytest.raises(ValueError, match="must fill a whole segment"):
        paths.path(template, p="p1")
