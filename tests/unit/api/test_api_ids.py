"""Ids from free-text names (pure functions, no cluster)."""

from __future__ import annotations

from typing import cast

import pytest

from chronos.api.mapping import ID_PATTERN, ID_STEM_MAX, SUFFIX_LENGTH, slugify


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("Monday-Wednesday-Friday Job", "monday-wednesday-friday-job"),
        ("Ünïcode Ärger", "unicode-arger"),
        ("Straße", "strasse"),
        ("Αθήνα Ψυχή", "athina-psychi"),
        ("Отчёт по продажам", "otchet-po-prodazham"),
        ("Щука и ёж", "shchuka-i-ezh"),
        ("Їжак", "izhak"),
        ("レポート", "repoto"),
        ("ひらがな", "hiragana"),
        ("보고서", "bogoseo"),
        ("!!!", "job"),
        ("", "job"),
    ],
)
def test_names_are_transliterated(name: str, stem: str) -> None:
    assert slugify(name) == stem


def test_names_without_a_latin_form_get_stable_distinct_ids() -> None:
    names = ["日报", "周报", "日报 周", "تقرير", "דוח", "Report 中文", "Report 日本"]
    ids = [slugify(n) for n in names]
    assert len(set(ids)) == len(ids), ids
    assert ids == [slugify(n) for n in names]  # stable
    assert all(i != "job" for i in ids)
    assert ids[0].startswith("job-")
    assert ids[5].startswith("report-")


@pytest.mark.parametrize("name", ["x" * 300, "中" * 300, "a" * 45 + " 中", "Ω" * 100, " - 日 - "])
def test_ids_are_valid_kubernetes_names_with_room_for_a_suffix(name: str) -> None:
    stem = slugify(name)
    assert len(stem) <= ID_STEM_MAX
    assert ID_PATTERN.match(stem), stem
    assert ID_PATTERN.match(f"{stem}-{'a' * SUFFIX_LENGTH}")


def test_history_is_the_response_model_and_survives_an_old_record() -> None:
    """Served as RunRecordOut: fields the model does not know are not echoed, and a record
    it refuses (written under an older CRD version) is left out instead of a 500."""
    from chronos.api.answers import RunRecordOut
    from chronos.api.mapping import history_view
    from chronos.models.wire import ChronosJobDict

    obj = {
        "status": {
            "lastRun": {"runId": "a-2", "trigger": "schedule", "result": "failed", "x": 1},
            "history": [
                {"runId": "a-2", "trigger": "schedule", "result": "failed"},
                {"runId": "a-1", "trigger": "schedule"},  # no result: refused
                {"runId": "a-0", "trigger": "run-now", "result": "succeeded"},
            ],
        }
    }
    records = history_view(cast(ChronosJobDict, obj))
    assert all(isinstance(r, RunRecordOut) for r in records)
    assert [r.run_id for r in records] == ["a-2", "a-0"]
    assert "x" not in records[0].model_dump()
