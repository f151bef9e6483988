"""``chronos migrate`` without a control plane: the conversion (pure), the paging reader
against a fake old Chronos over real HTTP, and the command writing a GitOps folder."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakechronos import MAX_LIMIT, FakeChronos, serving

from chronos import http
from chronos.api.migrate import cli
from chronos.api.migrate.convert import (
    MIGRATED_FROM_ANNOTATION,
    compare,
    convert,
    friendly_of,
    job_name,
)
from chronos.api.migrate.source import SourceError, read_jobs
from chronos.fakehub.server import server_ssl_context
from chronos.fakehub.tls import generate_tls
from chronos.models.chronosjob import ChronosJobSpec

#: The example job of the old Chronos's README, as its clients send it.
README_JOB = {
    "name": "Monday-Wednesday-Friday Job",
    "task_type": "entity_start",
    "schedule": {"days_of_week": ["monday", "wednesday", "friday"], "hour": 8, "minute": 30},
    "pipeline_id": "pipeline-123",
    "entity_id": "entity-456",
}
#: Injected: a Friday noon, two days before Europe/Rome springs forward (29 March 2026).
NOW = datetime(2026, 3, 27, 12, tzinfo=UTC)


def old(job_id: int, **body: Any) -> dict[str, Any]:
    fake = FakeChronos()
    fake.jobs = []
    job = fake.add({"name": f"job {job_id}", "task_type": "pipeline_start", **body})
    job["id"] = job_id
    return job


def conv(job: dict[str, Any], **kw: Any) -> Any:
    return convert(
        job, namespace=kw.pop("namespace", "jobs"), time_zone="Europe/Rome", now=NOW, **kw
    )


# ----------------------------------------------------------------- the conversion


def test_the_readme_job_becomes_a_friendly_chronosjob_with_the_old_time_zone() -> None:
    job = FakeChronos().add(README_JOB)
    assert job["cron_expression"] == "30 8 * * 1,3,5"  # what the old Chronos answers
    result = conv(job)
    assert result.errors == []
    assert result.manifest == {
        "apiVersion": "chronos.gluesync.io/v1alpha1",
        "kind": "ChronosJob",
        "metadata": {
            "name": "monday-wednesday-friday-job-1",
            "namespace": "jobs",
            "annotations": {MIGRATED_FROM_ANNOTATION: "1"},
        },
        "spec": {
            "displayName": "Monday-Wednesday-Friday Job",
            "timeZone": "Europe/Rome",
            "enabled": True,
            "task": {
                "type": "entity_start",
                "pipelineId": "pipeline-123",
                "entityIds": ["entity-456"],
                "withSnapshot": False,
                "snapshotWriteMethod": "UPSERT",
            },
            "schedule": {"daysOfWeek": ["monday", "wednesday", "friday"], "hour": 8, "minute": 30},
        },
    }
    ChronosJobSpec.model_validate(result.manifest["spec"])
    assert result.disagreement is None


def test_names_are_stable_and_unique_per_old_id() -> None:
    assert job_name(7, "Nightly Sync!") == "nightly-sync-7"
    a, b = conv(old(3, cron_expression="0 1 * * *")), conv(old(3, cron_expression="0 1 * * *"))
    assert a.manifest == b.manifest
    twins = [conv({**old(i, cron_expression="0 1 * * *"), "name": "same"}) for i in (1, 2)]
    assert [t.name for t in twins] == ["same-1", "same-2"]


def test_a_disabled_job_stays_disabled() -> None:
    result = conv(old(4, cron_expression="0 1 * * *", pipeline_id="p", enabled=False))
    assert result.manifest["spec"]["enabled"] is False
    assert any("kept disabled" in n for n in result.notes)


def test_the_corehub_connection_is_a_secret_reference_in_every_job() -> None:
    hub = {"url": "https://hub.example:1717", "credentialsSecretRef": {"name": "hub"}}
    result = conv(old(5, cron_expression="0 1 * * *", pipeline_id="p"), corehub=hub)
    assert result.manifest["spec"]["coreHub"] == hub


def test_upper_case_task_types_and_read_only_fields_are_taken_as_the_facade_takes_them() -> None:
    job = old(6, cron_expression="*/15 * * * *", pipeline_id="p", task_type="PIPELINE_STOP")
    job["last_run_status"] = "success"
    job["something_new"] = 1
    result = conv(job)
    assert result.manifest["spec"]["task"]["type"] == "pipeline_stop"
    assert result.manifest["spec"]["schedule"] == {"cron": "*/15 * * * *"}
    assert result.notes == ["fields not carried over: something_new"]


@pytest.mark.parametrize(
    ("cron", "form", "value", "exact"),
    [
        ("0 3 * * 7", "cron", "0 3 * * 0", True),
        ("0 3 * * 5-7", "cron", "0 3 * * 5-6,0", True),
        ("0 22 L * *", "rrule", "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=22;BYMINUTE=0", True),
        ("0 9 * * 5#2", "rrule", "FREQ=MONTHLY;BYDAY=2FR;BYHOUR=9;BYMINUTE=0", True),
        ("0 9 * * 5L", "rrule", "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0", True),
        ("0 9 * * * 0", "cron", "0 9 * * *", True),
        ("0 9 * * * 30", "cron", "0 9 * * *", False),
        ("CRON_TZ=Asia/Tokyo 0 9 * * *", "cron", "0 9 * * *", True),
    ],
)
def test_a_cron_kubernetes_rejects_is_reported_with_the_closest_valid_form(
    cron: str, form: str, value: str, exact: bool
) -> None:
    result = conv(old(8, cron_expression=cron, pipeline_id="p"))
    assert not result.converted
    assert [f for f, _ in result.errors] == ["cron_expression"]
    assert result.suggestion is not None
    assert (result.suggestion.form, result.suggestion.value) == (form, value)
    assert result.suggestion.exact is exact


def test_a_cron_without_a_close_form_says_why_and_suggests_nothing() -> None:
    result = conv(old(9, cron_expression="0 9 15W * *", pipeline_id="p"))
    assert not result.converted
    assert result.errors[0][0] == "cron_expression"
    assert result.suggestion is None


def test_a_job_the_model_refuses_names_the_field() -> None:
    result = conv(old(10, cron_expression="0 1 * * *", task_type="entity_stop", pipeline_id="p"))
    assert not result.converted
    assert result.errors[0][0] == "entity_ids"


@pytest.mark.parametrize("bad", [None, "12", True, -1])
def test_a_job_without_an_integer_id_is_not_converted(bad: Any) -> None:
    result = conv({**old(1, cron_expression="0 1 * * *", pipeline_id="p"), "id": bad})
    assert result.errors == [("id", "not a non-negative integer")]


def test_friendly_of_inverts_only_what_the_old_chronos_made() -> None:
    assert friendly_of("0 7 * * *") == {"days_of_week": [], "hour": 7, "minute": 0}
    assert friendly_of("5 7 * * 0,6") == {
        "days_of_week": ["sunday", "saturday"],
        "hour": 7,
        "minute": 5,
    }
    for cron in ("*/5 7 * * *", "0 7 1 * *", "0 7 * * 6,0", "0 24 * * *", "0 7 * * 1-5"):
        assert friendly_of(cron) is None


# ------------------------------------------------------ croniter and Kubernetes


def test_a_spring_forward_slot_is_shown_where_croniter_and_kubernetes_disagree() -> None:
    result = conv(old(11, cron_expression="30 2 * * *", pipeline_id="p"))
    assert result.converted
    d = result.disagreement
    assert d is not None
    # croniter ran the job at 03:00 on the day 02:30 does not exist; Kubernetes skips it.
    assert d.croniter[d.first].isoformat() == "2026-03-29T03:00:00+02:00"
    assert d.kubernetes[d.first].isoformat() == "2026-03-30T02:30:00+02:00"
    lines = cli.report_lines([result], {})
    assert any("schedule differs from the old Chronos (croniter)" in line for line in lines)
    assert any("Sun 2026-03-29 03:00 CEST" in line for line in lines)


def test_schedules_both_engines_agree_on_show_no_difference() -> None:
    for cron in ("*/15 6-20 * * 1-5", "0 8 */2 * 1", "5/15 * * * *", "0 12 ? * 1"):
        assert compare(cron, "Europe/Rome", NOW) == (None, "")


def test_without_croniter_the_report_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "croniter", None)
    disagreement, note = compare("30 2 * * *", "Europe/Rome", NOW)
    assert disagreement is None
    assert "chronos-scheduler[migrate]" in note


# ------------------------------------------------------- reading the old Chronos


def test_every_job_is_read_page_by_page_with_integer_ids() -> None:
    fake = FakeChronos(token="s3cret")
    for i in range(2 * MAX_LIMIT + 17):
        fake.add(
            {"name": f"job {i}", "task_type": "pipeline_start", "cron_expression": "0 1 * * *"}
        )
    with serving(fake), http.Client(headers={"Authorization": "Bearer s3cret"}) as client:
        jobs = read_jobs(client, fake.url + "/")
    assert [j["id"] for j in jobs] == list(range(1, 2 * MAX_LIMIT + 18))
    assert [(p, q["skip"], q["limit"]) for p, q in fake.requests] == [
        ("/api/jobs/", "0", "100"),
        ("/api/jobs/", "100", "100"),
        ("/api/jobs/", "200", "100"),
    ]


def test_a_job_seen_on_two_pages_is_kept_once() -> None:
    fake = FakeChronos()
    for i in range(5):
        fake.add(
            {"name": f"job {i}", "task_type": "pipeline_start", "cron_expression": "0 1 * * *"}
        )
    answer = fake.answer

    def shifting(path: str, params: dict[str, str], auth: str | None) -> tuple[int, Any]:
        # A job deleted after the first page: the list moves one place left.
        if params.get("skip") != "0" and len(fake.jobs) == 5:
            fake.jobs.pop(0)
        return answer(path, params, auth)

    fake.answer = shifting  # type: ignore[method-assign]
    with serving(fake), http.Client() as client:
        jobs = read_jobs(client, fake.url, page_size=2)
    assert sorted(j["id"] for j in jobs) == [j["id"] for j in jobs]
    assert len({j["id"] for j in jobs}) == len(jobs)


def test_a_refused_token_is_an_error_naming_the_status_not_the_body() -> None:
    fake = FakeChronos(token="right")
    headers = {"Authorization": "Bearer wrong"}
    with serving(fake), http.Client(headers=headers) as client, pytest.raises(SourceError) as info:
        read_jobs(client, fake.url)
    assert "401" in str(info.value)
    assert "Not authenticated" not in str(info.value)


def test_an_answer_that_is_not_a_job_list_is_refused() -> None:
    fake = FakeChronos()
    fake.answer = lambda path, params, auth: (200, ["not", "a", "page"])  # type: ignore[method-assign]
    with serving(fake), http.Client() as client, pytest.raises(SourceError, match="items"):
        read_jobs(client, fake.url)


# ------------------------------------------------------------------ the command


def run(argv: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    args = cli.parser().parse_args(argv)
    try:
        code = cli.migrate(args, out, io.StringIO(stdin), now=NOW)
    except cli.UsageError as exc:
        return 2, str(exc)
    return code, out.getvalue()


@pytest.fixture
def chronos_server() -> Any:
    fake = FakeChronos()
    fake.add(README_JOB)
    fake.add(
        {
            "name": "Sunday snapshot",
            "task_type": "pipeline_snapshot",
            "pipeline_id": "p1",
            "cron_expression": "0 3 * * 7",
        }
    )
    fake.add(
        {
            "name": "Paused",
            "task_type": "pipeline_stop",
            "pipeline_id": "p1",
            "cron_expression": "0 22 * * *",
            "enabled": False,
        }
    )
    with serving(fake):
        yield fake


def test_the_command_writes_one_manifest_per_job_and_a_kustomization(
    chronos_server: FakeChronos, tmp_path: Path
) -> None:
    out_dir = tmp_path / "gitops"
    argv = [
        "migrate",
        "--from",
        chronos_server.url,
        "--time-zone",
        "Europe/Rome",
        "--output-dir",
        str(out_dir),
    ]
    code, report = run(argv)
    assert code == 1  # one job could not be converted
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "kustomization.yaml",
        "monday-wednesday-friday-job-1.yaml",
        "paused-3.yaml",
    ]
    assert yaml.safe_load((out_dir / "kustomization.yaml").read_text())["resources"] == [
        "monday-wednesday-friday-job-1.yaml",
        "paused-3.yaml",
    ]
    paused = yaml.safe_load((out_dir / "paused-3.yaml").read_text())
    assert paused["spec"]["enabled"] is False
    assert "namespace" not in paused["metadata"]
    assert '#2 "Sunday snapshot": NOT CONVERTED: cron_expression:' in report
    assert "closest valid form: cron '0 3 * * 0' (same runs)" in report
    assert report.rstrip().endswith("2 of 3 jobs converted")
    # A re-run writes nothing: every file already holds what it would write.
    before = {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()}
    code, report = run(argv)
    assert report.startswith("wrote 0 file(s)")
    assert {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()} == before


def test_a_dry_run_writes_nothing(chronos_server: FakeChronos, tmp_path: Path) -> None:
    code, report = run(
        ["migrate", "--from", chronos_server.url, "--output-dir", str(tmp_path / "x"), "--dry-run"]
    )
    assert code == 1  # the Sunday job still cannot be converted
    assert report.startswith("would write 3 file(s)")
    assert not (tmp_path / "x").exists()


def test_the_json_report_lists_every_job(chronos_server: FakeChronos, tmp_path: Path) -> None:
    _, report = run(
        ["migrate", "--from", chronos_server.url, "--output-dir", str(tmp_path), "--json"]
    )
    entries = json.loads(report.split("\n", 1)[1])
    assert [(e["id"], e["converted"]) for e in entries] == [(1, True), (2, False), (3, True)]
    assert entries[1]["suggestion"]["value"] == "0 3 * * 0"


def test_a_password_never_goes_into_files_and_bad_flags_are_clear(tmp_path: Path) -> None:
    code, message = run(
        [
            "migrate",
            "--from",
            "http://127.0.0.1:9",
            "--output-dir",
            str(tmp_path),
            "--corehub-username",
            "u",
        ],
        stdin="pw",
    )
    assert (code, message) == (2, "--corehub-username (creating the Secret) needs --apply")
    code, message = run(
        [
            "migrate",
            "--from",
            "http://127.0.0.1:9",
            "--output-dir",
            str(tmp_path),
            "--time-zone",
            "Mars/Base",
        ]
    )
    assert code == 2
    assert message.startswith("--time-zone:")
    code, message = run(
        [
            "migrate",
            "--from",
            "http://127.0.0.1:9",
            "--output-dir",
            str(tmp_path),
            "--corehub-secret",
            "Bad_Name",
        ]
    )
    assert code == 2
    assert message.startswith("--corehub-secret:")


def test_an_unreachable_old_chronos_exits_2_with_the_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = cli.main(["migrate", "--from", "http://127.0.0.1:9", "--output-dir", str(tmp_path)])
    assert code == 2
    assert "http://127.0.0.1:9/api/jobs/" in capsys.readouterr().err


def test_now_is_injected_so_reports_do_not_depend_on_the_clock() -> None:
    later = NOW + timedelta(days=30)
    result = convert(
        old(11, cron_expression="30 2 * * *", pipeline_id="p"),
        namespace=None,
        time_zone="Europe/Rome",
        now=later,
    )
    assert result.disagreement is None  # past the clock change: the engines agree again


def test_an_https_old_chronos_is_read_with_its_ca_and_refused_without(tmp_path: Path) -> None:
    files = generate_tls(tmp_path / "tls")
    fake = FakeChronos()
    fake.add(README_JOB)
    with serving(fake, server_ssl_context(files.server_cert, files.server_key)):
        base = ["migrate", "--from", fake.url, "--output-dir", str(tmp_path / "out")]
        code, report = run([*base, "--ca-file", str(files.ca_cert)])
        assert code == 0, report
        assert report.rstrip().endswith("1 of 1 jobs converted")
        assert cli.main(base) == 2  # not verified: refused, nothing written by it


def test_a_token_file_that_is_not_one_token_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc\r\nInjected: header\n")
    code, message = run(["migrate", "--from", "http://127.0.0.1:9", "--token-file", str(token),
                         "--output-dir", str(tmp_path)])  # fmt: skip
    assert (code, message) == (2, "--token-file: not a bearer token (one line of printable ASCII)")


def test_a_job_answered_with_its_friendly_schedule_too_keeps_the_friendly_form() -> None:
    job = FakeChronos().add(README_JOB)
    job["schedule"] = {"days_of_week": ["friday", "monday"], "hour": 6, "minute": 0}
    job["cron_expression"] = "0 6 * * 1,5"
    spec = conv(job).manifest["spec"]
    assert spec["schedule"] == {"daysOfWeek": ["friday", "monday"], "hour": 6, "minute": 0}


def test_a_task_type_this_chronos_does_not_know_is_reported_by_field() -> None:
    result = conv(old(12, cron_expression="0 1 * * *", pipeline_id="p", task_type="db_backup"))
    assert not result.converted
    assert [f for f, _ in result.errors] == ["task_type"]
