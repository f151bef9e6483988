"""``chronos migrate``: every job of a running old Chronos as ChronosJobs.

Reads the jobs over the old Chronos's REST API (``source``), converts each with the REST
facade's own mapping (``convert``), then writes one manifest per job into a directory
(with a kustomization.yaml listing them: a GitOps repository's folder) or applies them
with server-side apply under its own field manager. Either way it prints a report: each
job converted (and what was applied), or why not, with the closest valid form.

Exit status: 0 every job converted (and applied), 1 some not, 2 nothing could be done
(bad flags, the old Chronos or the API server unreachable).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml
from lightkube import ApiError, Client, ConfigError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from chronos import http, kube
from chronos.api.migrate.convert import MIGRATED_FROM_ANNOTATION, Conversion, convert
from chronos.api.migrate.source import TIMEOUT_SECONDS, SourceError, read_jobs
from chronos.models.base import SecretName
from chronos.models.chronosjob import CredentialsSecretRef
from chronos.schedule import ScheduleError, validate_time_zone

#: The field manager of every object ``--apply`` writes (its own: the REST facade's and
#: kubectl's edits stay theirs, and a re-run changes only what the migration owns).
FIELD_MANAGER = "chronos-migrate"
DEFAULT_SECRET = "chronos-corehub"  # noqa: S105 (a Secret's name)
#: Where the CoreHub password comes from when no file is named (never a flag's value:
#: a command line is visible to every user of the machine).
PASSWORD_ENV = "CHRONOS_MIGRATE_COREHUB_PASSWORD"  # noqa: S105 (the variable's name)
#: The Secret's keys: the ones a credentialsSecretRef names by default.
USERNAME_KEY = str(CredentialsSecretRef.model_fields["username_key"].default)
PASSWORD_KEY = str(CredentialsSecretRef.model_fields["password_key"].default)
SHOWN_RUNS = 3


class UsageError(Exception):
    pass


@dataclass
class Outcome:
    """What ``--apply`` did with one converted job."""

    action: str  # created, updated, unchanged, refused, failed (+ " (dry run)")
    detail: str = ""


# ---------------------------------------------------------------------------- flags


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="chronos", description="Chronos command-line tools.")
    commands = top.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "migrate",
        help="convert every job of a running old Chronos into ChronosJobs",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument("--from", dest="source", required=True, help="the old Chronos's base URL")
    p.add_argument("--token-file", type=Path, help="a bearer token for the old Chronos's API")
    p.add_argument(
        "--ca-file", type=Path, help="CA bundle (PEM) of the old Chronos's TLS certificate"
    )
    p.add_argument(
        "--time-zone",
        default="UTC",
        help="the old Chronos's TIMEZONE setting (IANA name), carried into spec.timeZone",
    )
    p.add_argument("-n", "--namespace", help="the ChronosJobs' namespace")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--output-dir", type=Path, help="write one manifest per job here")
    mode.add_argument("--apply", action="store_true", help="server-side apply them")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing; with --apply, the API server checks each job (dryRun=All)",
    )
    p.add_argument("--kubeconfig", type=Path, help="default: $KUBECONFIG, ~/.kube/config")
    p.add_argument(
        "--force-conflicts",
        action="store_true",
        help="take over fields another manager set since the last migration",
    )
    p.add_argument("--corehub-url", help="CoreHub's base URL for every job (spec.coreHub.url)")
    p.add_argument(
        "--corehub-secret",
        help=f"the Secret with CoreHub's credentials (default {DEFAULT_SECRET} when "
        "--corehub-url or --corehub-username is given)",
    )
    p.add_argument("--corehub-username", help="create/update the Secret with this user")
    p.add_argument(
        "--corehub-password-file",
        type=Path,
        help=f"the password for the Secret ('-': standard input; default ${PASSWORD_ENV})",
    )
    p.add_argument(
        "--corehub-insecure-skip-verify",
        action="store_true",
        help="do not verify CoreHub's certificate (testing only)",
    )
    p.add_argument("--json", action="store_true", help="the report as JSON")
    return top


def _corehub(args: argparse.Namespace) -> dict[str, Any] | None:
    """spec.coreHub for every job, from the flags (None: the operator's default)."""
    wanted = args.corehub_url or args.corehub_username or args.corehub_secret
    if not wanted and not args.corehub_insecure_skip_verify:
        return None
    out: dict[str, Any] = {
        "credentialsSecretRef": {"name": args.corehub_secret or DEFAULT_SECRET},
    }
    if args.corehub_url:
        out["url"] = args.corehub_url
    if args.corehub_insecure_skip_verify:
        out["tls"] = {"insecureSkipVerify": True}
    return out


def _password(args: argparse.Namespace, stdin: TextIO) -> str | None:
    if args.corehub_username is None:
        return None
    if args.corehub_password_file is not None:
        path = args.corehub_password_file
        text = stdin.read() if str(path) == "-" else path.read_text()
    else:
        text = os.environ.get(PASSWORD_ENV, "")
    password = text.rstrip("\r\n")
    if not password:
        raise UsageError(
            f"--corehub-username needs a password: --corehub-password-file or ${PASSWORD_ENV}"
        )
    return password


def _check(args: argparse.Namespace) -> None:
    try:
        validate_time_zone(args.time_zone)
    except ScheduleError as exc:
        raise UsageError(f"--time-zone: {exc.reason}") from None
    if args.corehub_secret is not None and not _valid_secret_name(args.corehub_secret):
        raise UsageError("--corehub-secret: not a Secret name (a DNS subdomain)")
    if args.corehub_username is not None and not args.apply:
        # A password never goes into the files of a GitOps repository.
        raise UsageError("--corehub-username (creating the Secret) needs --apply")


def _valid_secret_name(name: str) -> bool:
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(SecretName).validate_python(name)
    except ValidationError:
        return False
    return True


# --------------------------------------------------------------------------- output


#: libyaml's emitter when PyYAML has it: the pure-Python one took 13 of 17 s for 1,000
#: manifests.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def manifest_text(manifest: dict[str, Any]) -> str:
    return yaml.dump(manifest, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)


def write_manifests(directory: Path, conversions: Sequence[Conversion], dry_run: bool) -> list[str]:
    """One ``<name>.yaml`` per converted job and a kustomization.yaml naming them; files
    whose content is already there are left untouched (a re-run changes nothing)."""
    files = {f"{c.name}.yaml": manifest_text(c.manifest) for c in conversions if c.manifest}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }
    files["kustomization.yaml"] = manifest_text(kustomization)
    written = []
    if not dry_run:
        directory.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        path = directory / name
        if path.exists() and path.read_text() == text:
            continue
        written.append(name)
        if not dry_run:
            path.write_text(text)
    return written


def apply_secret(client: Client, namespace: str, name: str, username: str, password: str) -> None:
    data = {USERNAME_KEY: username, PASSWORD_KEY: password}
    secret = Secret(
        metadata=ObjectMeta(name=name, namespace=namespace),
        type="Opaque",
        data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    )
    client.apply(secret, field_manager=FIELD_MANAGER, force=True)


def apply_job(
    client: Client, namespace: str, conversion: Conversion, *, force: bool, dry_run: bool
) -> Outcome:
    """Server-side apply of one manifest, onto nothing or onto the job a previous run
    migrated from the same old id (never onto another job of the same name)."""
    assert conversion.manifest is not None
    assert conversion.name is not None
    suffix = " (dry run)" if dry_run else ""
    try:
        before = client.get(kube.ChronosJobResource, conversion.name, namespace=namespace)
    except ApiError as exc:
        if not kube.answered(exc, kube.NOT_FOUND):
            return Outcome("failed", _api_reason(exc))
        before = None
    if before is not None:
        meta = before.metadata
        owner = (meta.annotations or {}).get(MIGRATED_FROM_ANNOTATION) if meta else None
        if owner != str(conversion.old_id):
            return Outcome("refused", "a ChronosJob of that name exists, not migrated from this id")
    obj = kube.ChronosJobResource.from_dict(conversion.manifest)
    try:
        after = client.apply(obj, field_manager=FIELD_MANAGER, force=force, dry_run=dry_run)
    except ApiError as exc:
        return Outcome("failed", _api_reason(exc))
    if before is None:
        return Outcome("created" + suffix)
    if _generation(before) == _generation(after):
        return Outcome("unchanged" + suffix)
    return Outcome("updated" + suffix)


def _generation(obj: Any) -> int | None:
    meta = obj.metadata
    return meta.generation if meta is not None else None


def _api_reason(exc: ApiError) -> str:
    # The API server's own message: it names the field and rule, never a Secret value.
    return f"{exc.status.code} {exc.status.reason}: {exc.status.message}"


# --------------------------------------------------------------------------- report


def _times(times: Sequence[datetime]) -> str:
    return ", ".join(t.strftime("%a %Y-%m-%d %H:%M %Z") for t in times[:SHOWN_RUNS])


def report_lines(conversions: Sequence[Conversion], outcomes: dict[str, Outcome]) -> list[str]:
    lines = []
    for c in conversions:
        head = f"#{c.old_id} {json.dumps(c.old_name, ensure_ascii=False)}"
        if c.manifest is None:
            reasons = "; ".join(f"{f}: {r}" for f, r in c.errors)
            lines.append(f"{head}: NOT CONVERTED: {reasons}")
            if c.suggestion is not None:
                s = c.suggestion
                how = "same runs" if s.exact else "close, not the same runs"
                extra = f"; {s.note}" if s.note else ""
                lines.append(f"    closest valid form: {s.form} {s.value!r} ({how}{extra})")
        else:
            outcome = outcomes.get(c.name or "")
            done = ""
            if outcome is not None:
                done = f" [{outcome.action}{': ' + outcome.detail if outcome.detail else ''}]"
            lines.append(f"{head} -> {c.name}{done}")
        lines.extend(f"    note: {n}" for n in c.notes)
        if c.disagreement is not None:
            d = c.disagreement
            lines.append("    schedule differs from the old Chronos (croniter):")
            lines.append(f"      old Chronos (croniter): {_times(d.croniter[d.first :])}")
            lines.append(f"      Kubernetes:             {_times(d.kubernetes[d.first :])}")
    converted = sum(1 for c in conversions if c.converted)
    lines.append(f"{converted} of {len(conversions)} jobs converted")
    return lines


def report_json(conversions: Sequence[Conversion], outcomes: dict[str, Outcome]) -> str:
    def one(c: Conversion) -> dict[str, Any]:
        out: dict[str, Any] = {"id": c.old_id, "name": c.old_name, "converted": c.converted}
        if c.name is not None:
            out["chronosjob"] = c.name
        if c.errors:
            out["errors"] = [{"field": f, "reason": r} for f, r in c.errors]
        if c.suggestion is not None:
            out["suggestion"] = vars(c.suggestion)
        if c.notes:
            out["notes"] = c.notes
        if c.disagreement is not None:
            out["croniter"] = [t.isoformat() for t in c.disagreement.croniter]
            out["kubernetes"] = [t.isoformat() for t in c.disagreement.kubernetes]
        if c.name in outcomes:
            out["applied"] = vars(outcomes[c.name])
        return out

    return json.dumps([one(c) for c in conversions], indent=2, ensure_ascii=False)


# ----------------------------------------------------------------------------- main


def _source_client(args: argparse.Namespace) -> http.Client:
    headers = {}
    if args.token_file is not None:
        token = args.token_file.read_text().strip()
        if not token.isascii() or not token.isprintable() or " " in token:
            raise UsageError("--token-file: not a bearer token (one line of printable ASCII)")
        headers["Authorization"] = f"Bearer {token}"
    verify: Any = True
    if args.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(args.ca_file))
    return http.Client(
        headers=headers, timeout=TIMEOUT_SECONDS, follow_redirects=False, verify=verify
    )


def migrate(
    args: argparse.Namespace, out: TextIO, stdin: TextIO, now: datetime | None = None
) -> int:
    _check(args)
    corehub = _corehub(args)
    password = _password(args, stdin)
    client = kube.client(args.kubeconfig, field_manager=FIELD_MANAGER) if args.apply else None
    namespace = args.namespace or (client.namespace if client is not None else None)
    with _source_client(args) as source:
        jobs = read_jobs(source, args.source)
    when = now or datetime.now(UTC)
    conversions = [
        convert(j, namespace=namespace, time_zone=args.time_zone, now=when, corehub=corehub)
        for j in jobs
    ]
    outcomes: dict[str, Outcome] = {}
    if client is not None:
        assert namespace is not None
        if password is not None and corehub is not None:
            secret = corehub["credentialsSecretRef"]["name"]
            if not args.dry_run:
                apply_secret(client, namespace, secret, args.corehub_username, password)
            print(f"Secret {namespace}/{secret}: applied (username, password)", file=out)
        for c in conversions:
            if c.manifest is not None and c.name is not None:
                outcomes[c.name] = apply_job(
                    client, namespace, c, force=args.force_conflicts, dry_run=args.dry_run
                )
    else:
        written = write_manifests(args.output_dir, conversions, args.dry_run)
        verb = "would write" if args.dry_run else "wrote"
        print(f"{verb} {len(written)} file(s) in {args.output_dir}", file=out)
    print(
        report_json(conversions, outcomes)
        if args.json
        else "\n".join(report_lines(conversions, outcomes)),
        file=out,
    )
    failed = any(not c.converted for c in conversions) or any(
        o.action.split(" ")[0] in ("refused", "failed") for o in outcomes.values()
    )
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return migrate(args, sys.stdout, sys.stdin)
    except (UsageError, SourceError, OSError, ConfigError) as exc:
        print(f"chronos {args.command}: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"chronos {args.command}: {_api_reason(exc)}", file=sys.stderr)
        return 2
