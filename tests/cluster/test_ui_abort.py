"""Abort of a run on the dashboard reveals no ChronosJob to a caller who may not read it
(issue 17, finding 6): RBAC on ``get`` of the ChronosJob is asked first, before the
job is looked up, and a missing job answers as a job without that active run does."""

from __future__ import annotations

import html

import pytest
from builders import allow, grant
from fixtures_api import ApiServer, sa_token
from fixtures_ui import UiUser, create_job, signed_in
from lightkube import Client
from lightkube.models.rbac_v1 import PolicyRule
from support import wait_for

from chronos import http

pytestmark = pytest.mark.cluster

SECRET_NAME = "quarterly payroll export"


def _abort(namespace: str, job_id: str) -> str:
    return f"/ui/jobs/{namespace}/{job_id}/runs/{job_id}-manual-1/abort"


def _same(answer: http.Response, job_id: str) -> str:
    """The answer's page with the ids the caller sent replaced by a placeholder."""
    return html.unescape(answer.text).replace(job_id, "<id>")


def test_abort_confirm_reveals_no_job_to_who_may_only_delete_batch_jobs(
    api_server: ApiServer, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name=SECRET_NAME)
    missing = "no-such-job"
    token = sa_token(k8s, namespace, "mallory")
    allow(
        k8s,
        namespace,
        "mallory",
        PolicyRule(apiGroups=["batch"], resources=["jobs"], verbs=["delete"]),
    )
    with signed_in(api_server, token) as client:
        user = UiUser(client, token)
        for forged in (job_id, missing):
            shown = client.get(_abort(namespace, forged))
            posted = user.post(_abort(namespace, forged), {"csrf": user.csrf()})
            for answer in (shown, posted):
                # the same 403 whether the job exists or not, naming no display name
                assert answer.status_code == 403, answer.text
                assert "may not get chronosjobs.chronos.gluesync.io" in answer.text
                assert SECRET_NAME not in html.unescape(answer.text)

        # Once the caller may read the job, a job without that active run and a missing
        # job still answer alike (the 404 names only what the caller sent).
        grant(k8s, namespace, "mallory", ("get",), role="mallory-get")

        def readable() -> bool:
            return all(
                client.get(_abort(namespace, j)).status_code != 403 for j in (job_id, missing)
            )

        wait_for(readable, 15, "the access cache to see the new grant")
        for method in ("GET", "POST"):
            form = {"csrf": user.csrf()} if method == "POST" else None
            answers = [
                client.request(method, _abort(namespace, j), data=form) for j in (job_id, missing)
            ]
            assert [a.status_code for a in answers] == [404, 404], [a.text for a in answers]
            assert _same(answers[0], job_id) == _same(answers[1], missing)
            assert "has no active run" in answers[0].text
            assert SECRET_NAME not in html.unescape(answers[0].text)
