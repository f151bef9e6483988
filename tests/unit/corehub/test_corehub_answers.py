"""CoreHub's answers parsed into models at the edge: the documented shapes pass, anything
else is an UnusableAnswerError naming the call and quoting the answer."""

from __future__ import annotations

from typing import Any

import pytest

from chronos.corehub import EntityConfig, EntityStatus, UnusableAnswerError
from chronos.corehub.answers import (
    QUOTE_LIMIT,
    Mask,
    entities,
    entities_status,
    mask_secrets,
    quote,
)

WHERE = "GET /pipelines/p1/entities-status"


def none(text: str) -> str:
    """A mask with no secret to mask: these tests are about shapes."""
    return mask_secrets(text, ())


M: Mask = none


def test_entity_status_of_the_documented_shape() -> None:
    body = [
        {
            "entityId": "e1",
            "isSyncActive": True,
            "isMigrationActive": False,
            "isBusy": False,
            "errorState": None,
            "somethingNew": 1,
        },
        {"entityId": 7, "isSyncActive": False, "isMigrationActive": True},
        {"entityId": "e3", "isSyncActive": False, "isMigrationActive": False, "errorState": "x"},
    ]
    got = entities_status(body, WHERE, mask=M)
    assert list(got) == ["e1", "7", "e3"]
    assert got["e1"].is_sync_active
    assert got["7"].is_migration_active
    assert got["7"].is_busy is False  # absent: no sign of CoreHub acting
    assert got["e3"].error_state == "x"
    assert entities_status([], WHERE, mask=M) == {}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (None, "answer: Input should be a valid list"),
        ("<html><body>Sign in</body></html>", "answer: Input should be a valid list"),
        ({"message": "Pipeline p1 not found"}, "answer: Input should be a valid list"),
        ([None], "0: Input should be a valid dictionary"),
        ([{"message": "x"}], "0.entityId: Field required"),
        ([{"entityId": "e1", "isSyncActive": True}], "0.isMigrationActive: Field required"),
        ([{"entityId": "", "isSyncActive": 1, "isMigrationActive": 0}], "0.entityId: String"),
        ([{"entityId": "e1", "isSyncActive": None, "isMigrationActive": False}], "isSyncActive"),
        ([{"entityId": "e1", "isSyncActive": "maybe", "isMigrationActive": False}], "boolean"),
        ([{"entityId": "e1", "isSyncActive": 1, "isMigrationActive": 0, "errorState": [1]}], "err"),
    ],
)
def test_entity_status_of_another_shape_is_unusable(body: Any, problem: str) -> None:
    with pytest.raises(UnusableAnswerError) as caught:
        entities_status(body, WHERE, mask=M)
    message = str(caught.value)
    assert message.startswith(f"CoreHub answered something that is not entity status to {WHERE}: ")
    assert problem in message


def test_entities_wrapped_or_bare() -> None:
    body = [
        {"entity": {"entityId": "e1", "entityName": "orders", "groupId": "_default"}},
        {"entityId": "e2", "groupId": "g1"},
    ]
    assert entities(body, "GET /pipelines/p1/entities", mask=M) == [
        EntityConfig(entity_id="e1", group_id="_default"),
        EntityConfig(entity_id="e2", group_id="g1"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        None,
        "<html/>",
        {"entities": []},
        [None],
        [{"entity": None}],
        [{"entity": {"entityId": "e1"}}],
    ],
)
def test_entities_of_another_shape_are_unusable(body: Any) -> None:
    # An entity without groupId would silently leave a group task without it.
    with pytest.raises(UnusableAnswerError, match="not a list of entities to GET /x: "):
        entities(body, "GET /x", mask=M)


def test_quote_is_short_and_on_one_line() -> None:
    page = "<html>\n  <body>" + "x" * 1000 + "</body></html>"
    quoted = quote(page, M)
    assert len(quoted) == QUOTE_LIMIT
    assert quoted.startswith("<html> <body>xx")
    assert quoted.endswith("…")
    assert quote([None], M) == "[null]"


def test_models_are_frozen() -> None:
    status = EntityStatus(entity_id="e1", is_sync_active=True, is_migration_active=False)
    with pytest.raises(ValueError, match="frozen"):
        status.is_busy = True  # type: ignore[misc]
