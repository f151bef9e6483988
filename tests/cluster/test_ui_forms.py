"""The dashboard's job form against the real control plane: create with the friendly
schedule or cron, the model's own messages next to the fields on a 422, edit with the
version read (a change made meanwhile is refused, not overwritten), and the preview."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fixtures_ui import UiUser, create_job
from lightkube import Client
from lightkube.types import PatchType

from chronos import http
from chronos.api.cache import plain
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


def _form(user: UiUser, namespace: str, **fields: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf": user.csrf(),
        "namespace": namespace,
        "name": "Form job",
        "description": "made in the form",
        "task_type": "entity_start",
        "pipeline_id": "pipeline-1",
        "entity_ids": "e1, e2",
        "schedule_kind": "friendly",
        "days_of_week": ["monday", "friday"],
        "hour": "7",
        "minute": "45",
        "timezone": "Europe/Rome",
        "enabled": "true",
        "snapshot_write_method": "UPSERT",
    }
    form.update(fields)
    return form


def _spec(k8s: Client, namespace: str, job_id: str) -> dict[str, Any]:
    spec: dict[str, Any] = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))["spec"]
    return spec


def test_the_form_creates_a_job_with_the_friendly_schedule(
    editor: UiUser, k8s: Client, namespace: str
) -> None:
    page = editor.client.get(f"/ui/jobs/new?namespace={namespace}")
    assert page.status_code == 200
    assert "Europe/Rome" in page.text  # the zone chooser lists the tz database
    answer = editor.client.post("/ui/jobs/new", data=_form(editor, namespace))
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/ui/jobs/{namespace}/form-job?done=created"
    spec = _spec(k8s, namespace, "form-job")
    assert spec["schedule"] == {"daysOfWeek": ["monday", "friday"], "hour": 7, "minute": 45}
    assert spec["timeZone"] == "Europe/Rome"
    assert spec["task"]["entityIds"] == ["e1", "e2"]
    assert spec["description"] == "made in the form"


def test_the_model_s_messages_are_shown_next_to_the_fields(
    editor: UiUser, k8s: Client, namespace: str
) -> None:
    cases = [
        ({"hour": "25"}, "hour"),
        ({"hour": "eight"}, "hour"),
        ({"entity_ids": ""}, "entity_ids"),
        ({"schedule_kind": "cron", "cron_expression": "61 * * * *"}, "cron_expression"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ]
    for fields, field in cases:
        answer = editor.client.post("/ui/jobs/new", data=_form(editor, namespace, **fields))
        assert answer.status_code == 422, fields
        error = re.search(rf'<p class="error small" id="err-{field}">([^<]+)</p>', answer.text)
        assert error, (fields, answer.text[:2000])
        assert f'aria-describedby="err-{field}' in answer.text
        # what was typed stays in the form
        assert 'value="Form job"' in answer.text
    assert list(k8s.list(ChronosJobResource, namespace=namespace)) == []


def test_editing_saves_changes_and_refuses_a_stale_form(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="to edit")
    page = editor.client.get(f"/ui/jobs/{namespace}/{job_id}/edit").text
    generation = re.search(r'name="generation" value="(\d+)"', page)
    assert generation
    assert 'value="to edit"' in page
    assert 'value="30"' in page
    # Runs write the status all the time: that does not make an open form stale.
    k8s.patch(
        ChronosJobResource.Status,
        job_id,
        {"status": {"activeRuns": []}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    form = _form(
        editor,
        namespace,
        name="edited",
        schedule_kind="cron",
        cron_expression="15 6 * * 1-5",
        generation=generation.group(1),
        entity_ids="entity-456",
        pipeline_id="pipeline-123",
    )
    answer = editor.client.post(f"/ui/jobs/{namespace}/{job_id}/edit", data=form)
    assert answer.status_code == 303, answer.text
    spec = _spec(k8s, namespace, job_id)
    assert spec["schedule"] == {"cron": "15 6 * * 1-5"}
    assert spec["displayName"] == "edited"
    # the same form again, now that its settings changed: refused, nothing overwritten
    form["name"] = "stale"
    answer = editor.client.post(f"/ui/jobs/{namespace}/{job_id}/edit", data=form)
    assert answer.status_code == 412
    assert "changed by someone else since this form was opened" in html.unescape(answer.text)
    assert _spec(k8s, namespace, job_id)["displayName"] == "edited"


def test_the_preview_describes_the_schedule_or_says_why_not(editor: UiUser) -> None:
    csrf = editor.csrf()
    good = editor.client.post(
        "/ui/schedule/preview",
        data={
            "csrf": csrf,
            "schedule_kind": "cron",
            "cron_expression": "30 2 * * *",
            "timezone": "Europe/Rome",
        },
    )
    assert good.status_code == 200
    assert good.text.count("<li>") == 5
    assert "Europe/Rome" in good.text
    bad = editor.client.post(
        "/ui/schedule/preview",
        data={"csrf": csrf, "schedule_kind": "friendly", "hour": "24", "minute": "0"},
    )
    assert 'class="error"' in bad.text
    assert "<li>" not in bad.text
    assert (
        editor.client.post("/ui/schedule/preview", data={"schedule_kind": "cron"}).status_code
        == 403
    )
