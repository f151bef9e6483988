"""The wire TypedDicts (chronos.models.wire) agree with the models, and the status keys
have one home in production code."""

from __future__ import annotations

import ast
import types
import typing
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from pydantic import AwareDatetime, BaseModel
from support import ROOT

from chronos.models import calendar as cal
from chronos.models import chains, notify, wire
from chronos.models import channels as ch
from chronos.models import chronosjob as m
from chronos.models import container as ct
from chronos.models import jobstatus as js
from chronos.models import timing as t
from chronos.models.params import RunParameters
from chronos.models.tasks import WaitFor

#: Each model and the TypedDict that mirrors its JSON form.
SHAPES: dict[type[BaseModel], Any] = {
    m.ChronosJob: wire.ChronosJobDict,
    m.ChronosJobSpec: wire.SpecDict,
    m.Task: wire.TaskDict,
    ct.ContainerTask: wire.ContainerTaskDict,
    ct.ContainerEnv: wire.ContainerEnvDict,
    ct.KeyRef: wire.KeyRefDict,
    ct.ContainerResources: wire.ContainerResourcesDict,
    ct.ResourceAmounts: wire.ResourceAmountsDict,
    WaitFor: wire.WaitForDict,
    m.Schedule: wire.ScheduleDict,
    m.SecretKeyRef: wire.SecretKeyRefDict,
    m.CredentialsSecretRef: wire.CredentialsSecretRefDict,
    m.CoreHubTLS: wire.CoreHubTLSDict,
    m.CoreHub: wire.CoreHubDict,
    m.ChronosJobStatus: wire.StatusDict,
    m.Condition: wire.ConditionDict,
    m.RunRecord: wire.RunRecordDict,
    m.EntityResult: wire.EntityResultDict,
    RunParameters: wire.RunParametersDict,
    m.ActiveRun: wire.ActiveRunDict,
    js.QueuedRun: wire.QueuedRunDict,
    t.CalendarRef: wire.CalendarRefDict,
    t.DstPolicy: wire.DstPolicyDict,
    t.CatchUp: wire.CatchUpDict,
    t.ScheduleStatus: wire.ScheduleStatusDict,
    t.Suspension: wire.SuspensionDict,
    t.BackfillStatus: wire.BackfillStatusDict,
    chains.Upstream: wire.UpstreamDict,
    chains.RunCause: wire.RunCauseDict,
    notify.NotifyRule: wire.NotifyRuleDict,
    notify.Alerting: wire.AlertingDict,
    notify.NotificationsStatus: wire.NotificationsStatusDict,
    notify.Undelivered: wire.UndeliveredDict,
}
#: The ChronosCalendar's models and their TypedDicts.
CALENDAR_SHAPES: dict[type[BaseModel], Any] = {
    cal.ChronosCalendar: wire.ChronosCalendarDict,
    cal.ChronosCalendarSpec: wire.CalendarSpecDict,
    cal.DateRange: wire.DateRangeDict,
    cal.Ics: wire.IcsDict,
    cal.ConfigMapKeyRef: wire.ConfigMapKeyRefDict,
    cal.ChronosCalendarStatus: wire.CalendarStatusDict,
    cal.CalendarCondition: wire.ConditionDict,
}
#: The ChronosChannel's models and their TypedDicts.
CHANNEL_SHAPES: dict[type[BaseModel], Any] = {
    ch.ChronosChannel: wire.ChronosChannelDict,
    ch.ChronosChannelSpec: wire.ChannelSpecDict,
    ch.SecretRef: wire.SecretRefDict,
    ch.EmailSettings: wire.EmailSettingsDict,
    ch.ChronosChannelStatus: wire.ChannelStatusDict,
    ch.ChannelCondition: wire.ConditionDict,
}
#: Every model with a TypedDict.
ALL_SHAPES = {**SHAPES, **CALENDAR_SHAPES, **CHANNEL_SHAPES}
#: The TypedDicts of the status, whose camelCase keys have one home.
STATUS_SHAPES = (
    wire.StatusDict,
    wire.ConditionDict,
    wire.RunRecordDict,
    wire.ActiveRunDict,
    wire.QueuedRunDict,
    wire.NotificationsStatusDict,
    wire.UndeliveredDict,
    wire.EntityResultDict,
    wire.ScheduleStatusDict,
    wire.SuspensionDict,
    wire.BackfillStatusDict,
    wire.CalendarStatusDict,
    wire.ChannelStatusDict,
)


def _aliases(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def _union(args: list[Any]) -> Any:
    return Union[tuple(args)]  # noqa: UP007 - built from a list


def wire_type(annotation: Any) -> Any:
    """What ``annotation`` (a model field's) is as JSON in a TypedDict."""
    if get_origin(annotation) is Annotated:
        return wire_type(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return _union([wire_type(a) for a in get_args(annotation)])
    if get_origin(annotation) is list:
        return list[wire_type(get_args(annotation)[0])]  # type: ignore[misc]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ALL_SHAPES[annotation]
    if isinstance(annotation, type) and issubclass(
        annotation, Enum | datetime | date | AwareDatetime
    ):
        return str
    return annotation


def test_every_model_of_a_chronosjob_has_its_typeddict() -> None:
    found: set[type[BaseModel]] = set()

    def walk(annotation: Any) -> None:
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if is_model and annotation not in found:
            found.add(annotation)
            for info in annotation.model_fields.values():
                walk(info.annotation)
        for arg in get_args(annotation):
            walk(arg)

    walk(m.ChronosJob)
    assert found == set(SHAPES)
    found.clear()
    walk(cal.ChronosCalendar)
    assert found == set(CALENDAR_SHAPES)
    found.clear()
    walk(ch.ChronosChannel)
    assert found == set(CHANNEL_SHAPES)


@pytest.mark.parametrize("model", [*ALL_SHAPES], ids=lambda model: model.__name__)
def test_typeddict_keys_and_types_are_the_models(model: type[BaseModel]) -> None:
    shape = ALL_SHAPES[model]
    assert set(shape.__annotations__) == _aliases(model)
    assert not shape.__required_keys__, "every key may be missing on a read"
    hints = typing.get_type_hints(shape)
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if model in (m.ChronosJob, cal.ChronosCalendar, ch.ChronosChannel) and alias == "metadata":
            assert hints[alias] is wire.ObjectMetaDict
            continue
        assert hints[alias] == wire_type(info.annotation), alias


def test_metadata_keys_are_kubernetes_object_meta() -> None:
    assert set(wire.ObjectMetaDict.__annotations__) == set(typing.get_type_hints(ObjectMeta))


def _constants() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(wire).items()
        if name.isupper() and isinstance(value, str)
    }


def test_each_status_key_constant_is_a_key_of_the_status() -> None:
    keys = {k for shape in STATUS_SHAPES for k in shape.__annotations__}
    constants = _constants()
    assert constants
    for name, value in constants.items():
        assert value in keys, name
        # the constant's name is its key's, so a reader knows which it is
        assert name == "".join(f"_{c}" if c.isupper() else c.upper() for c in value), value


#: Kubernetes' own objects have fields named as some of ours; where a module reads or
#: writes such a field of one of them, the literal is Kubernetes', not the ChronosJob's.
KUBERNETES_FIELDS = {
    # a batch/v1 Job's status.startTime and its conditions' lastTransitionTime
    ("operator/chronos/operator/runs.py", "startTime"),
    ("operator/chronos/operator/runs.py", "lastTransitionTime"),
    # a Pod's status.startTime (the Cluster page's replicas)
    ("api/chronos/api/clusterview.py", "startTime"),
    # a CronJob's status.lastScheduleTime and spec.timeZone
    ("operator/chronos/operator/kubeio.py", "lastScheduleTime"),
    ("operator/chronos/operator/cache.py", "lastScheduleTime"),
    ("operator/chronos/operator/cache.py", "timeZone"),
    ("operator/chronos/operator/cronjob.py", "timeZone"),
    ("operator/chronos/operator/reconcile.py", "timeZone"),
    # a Deployment's status.observedGeneration
    ("dev/chronos/devcluster/system.py", "observedGeneration"),
    # the spec field a schedule error names (ScheduleError.field)
    ("src/chronos/schedule/cron.py", "timeZone"),
    ("operator/chronos/operator/desired.py", "timeZone"),
    # a key of the runner's JSON log lines, named as the run's id is everywhere
    ("runner/chronos/runner/run.py", "runId"),
}
HOME = "src/chronos/models/wire.py"
#: Every tree of production code (the dev harness too: it reads ChronosJobs as well).
PRODUCTION = ("src", "operator", "runner", "dev", "api")


def _string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_camelcase_status_keys_are_spelled_only_in_their_home() -> None:
    keys = {k for shape in STATUS_SHAPES for k in shape.__annotations__ if k != k.lower()}
    strays = []
    for top in PRODUCTION:
        assert (ROOT / top).is_dir(), top  # a wrong root would scan nothing and pass
        for path in sorted((ROOT / top).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            if where == HOME:
                assert (ROOT / HOME).is_file()
                continue
            for key in sorted(keys & _string_literals(path)):
                if (where, key) not in KUBERNETES_FIELDS:
                    strays.append(f"{where}: {key!r}")
    assert not strays, "use the constants of chronos.models.wire: " + ", ".join(strays)


def test_the_stray_check_finds_a_literal(tmp_path: Path) -> None:
    module = tmp_path / "stray.py"
    module.write_text('status.get("nextRunTimes")\nf"{x}"\n')
    assert "nextRunTimes" in _string_literals(module)
