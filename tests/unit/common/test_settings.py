"""Settings from CHRONOS_* variables (chronos.settings.ComponentSettings.from_env)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, Field

from chronos.settings import ComponentSettings, SettingsError


class Inner(BaseModel):
    a: int


class Example(ComponentSettings):
    count: int = Field(default=1, ge=0)
    flag: bool = False
    name: str | None = None
    inner: Inner | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)


class EmptyIsUnset(Example):
    ignore_empty: ClassVar[bool] = True


def test_scalars_are_parsed_and_structured_values_are_json() -> None:
    got = Example.from_env(
        {
            "CHRONOS_COUNT": "3",
            "CHRONOS_FLAG": "true",
            "CHRONOS_NAME": "x",
            "CHRONOS_INNER": '{"a": 2}',
            "CHRONOS_OVERRIDES": '{"k": [1]}',
            "OTHER": "ignored",
        }
    )
    assert (got.count, got.flag, got.name) == (3, True, "x")
    assert got.inner == Inner(a=2)
    assert got.overrides == {"k": [1]}


def test_defaults_apply_when_unset() -> None:
    assert Example.from_env({}) == Example()


def test_empty_means_unset_only_where_the_component_says_so() -> None:
    assert EmptyIsUnset.from_env({"CHRONOS_NAME": "", "CHRONOS_COUNT": ""}).name is None
    assert Example.from_env({"CHRONOS_NAME": ""}).name == ""
    with pytest.raises(SettingsError, match="CHRONOS_COUNT"):
        Example.from_env({"CHRONOS_COUNT": ""})


def test_bad_json_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^CHRONOS_INNER: not valid JSON"):
        Example.from_env({"CHRONOS_INNER": "{a: 2"})


def test_invalid_values_name_the_variable_and_only_it() -> None:
    with pytest.raises(SettingsError) as info:
        Example.from_env({"CHRONOS_COUNT": "-1", "CHRONOS_NAME": "fine"})
    assert str(info.value).startswith("CHRONOS_COUNT: ")
    assert "CHRONOS_NAME" not in str(info.value)


def test_an_unknown_variable_is_refused_with_the_closest_name() -> None:
    with pytest.raises(SettingsError, match=r"CHRONOS_COUNTT \(did you mean CHRONOS_COUNT\?\)"):
        Example.from_env({"CHRONOS_COUNTT": "1"})


def test_the_settings_are_frozen() -> None:
    settings = Example.from_env({})
    with pytest.raises(ValueError, match="frozen"):
        settings.count = 2  # type: ignore[misc]
