"""``kubectl chronos``: the command line, shell completion and the error messages.

Installed as the ``kubectl-chronos`` executable (kubectl runs any ``kubectl-<name>`` on
the PATH as ``kubectl <name>``) and ``kubectl_complete-chronos`` (what kubectl 1.26+
runs to complete a plugin's arguments). Every failure ends as one ``error:`` line and
exit code 1 (a run's own exit code for ``run --wait``), never a stack trace.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lightkube import ApiError
from lightkube.core.exceptions import ConfigError

from chronos import http
from chronos.kubectl import commands
from chronos.kubectl.cluster import Session, connect
from chronos.kubectl.commands import Io
from chronos.kubectl.completion import COMPLETE, SHELLS, candidates, flag_value, script
from chronos.kubectl.errors import CliError
from chronos.schedule import ScheduleError
from chronos.times import parse_time

PROG = "kubectl chronos"
#: The commands that take a job's name (completion offers the namespace's jobs).
JOB_COMMANDS = ("get", "describe", "run", "logs", "history", "suspend", "resume")
#: Exit code of an interrupted command (128 + SIGINT), as shells report it.
INTERRUPTED = 130
#: ``run --wait``'s default bound, in seconds.
WAIT_TIMEOUT = 3600.0


def _cluster_flags(parser: argparse.ArgumentParser, *, output: bool = True) -> None:
    parser.add_argument("-n", "--namespace", help="the namespace (default: the context's)")
    parser.add_argument("--context", help="the kubeconfig context to use")
    parser.add_argument("--kubeconfig", type=Path, help="the kubeconfig file to use")
    if output:
        parser.add_argument(
            "-o", "--output", choices=("json", "yaml", "wide"), help="output format"
        )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=PROG,
        description="Chronos jobs from kubectl: list, describe, run, follow, suspend.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    get = sub.add_parser("get", help="list jobs: the printer columns and the next run locally")
    get.add_argument("names", nargs="*", metavar="JOB")
    get.add_argument("-A", "--all-namespaces", action="store_true")
    get.add_argument("-l", "--selector", help="label selector (a=b,c!=d,e,!f)")
    _cluster_flags(get)

    desc = sub.add_parser("describe", help="a job: its schedule in words, next runs, last runs")
    desc.add_argument("name", metavar="JOB")
    _cluster_flags(desc, output=False)

    run = sub.add_parser("run", help="run a job now (prints the idempotency key)")
    run.add_argument("name", metavar="JOB")
    run.add_argument("--key", help="idempotency key (default: a new one); same key, one run")
    run.add_argument("--wait", action="store_true", help="wait; exit with the runner's code")
    run.add_argument("--follow", action="store_true", help="stream the run's log (implies --wait)")
    run.add_argument("--timeout", type=float, default=WAIT_TIMEOUT, help="seconds to wait")
    _cluster_flags(run, output=False)

    logs = sub.add_parser("logs", help="a run's log (default: the newest run)")
    logs.add_argument("name", metavar="JOB")
    logs.add_argument("run", nargs="?", metavar="RUN")
    logs.add_argument("-f", "--follow", action="store_true")
    _cluster_flags(logs, output=False)

    hist = sub.add_parser("history", help="a job's past runs, newest first")
    hist.add_argument("name", metavar="JOB")
    _cluster_flags(hist)

    for verb, text in (("suspend", "stop"), ("resume", "start again")):
        p = sub.add_parser(verb, help=f"{text} the scheduled runs of jobs (by name or -l)")
        p.add_argument("names", nargs="*", metavar="JOB")
        p.add_argument("-l", "--selector", help="label selector (a=b,c!=d,e,!f)")
        p.add_argument("-A", "--all-namespaces", action="store_true")
        _cluster_flags(p, output=False)

    pre = sub.add_parser("preview", help="when a cron runs in a zone (offline, the same engine)")
    pre.add_argument("cron", metavar="CRON")
    pre.add_argument("--tz", required=True, metavar="ZONE", help="IANA zone, e.g. Europe/Rome")
    pre.add_argument("--count", type=int, default=10, metavar="N")
    pre.add_argument(
        "--from", dest="start", metavar="TIME", help="start after TIME (RFC 3339; default: now)"
    )

    comp = sub.add_parser("completion", help="print the shell completion script")
    comp.add_argument("shell", choices=SHELLS)
    return top


def viewer_zone() -> tzinfo:
    """The viewer's zone: $TZ when it names an IANA zone, else the system's."""
    name = os.environ.get("TZ", "").removeprefix(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local


def _namespace(args: argparse.Namespace, s: Session) -> str | None:
    """None for -A (all namespaces), else -n or the context's namespace."""
    if getattr(args, "all_namespaces", False):
        return None
    return str(args.namespace or s.namespace)


def dispatch(args: argparse.Namespace, io: Io) -> int:
    if args.command == "completion":
        io.print(script(args.shell))
        return 0
    if args.command == "preview":
        if args.count < 1 or args.count > 1000:
            raise CliError("--count must be between 1 and 1000")
        start = None
        if args.start is not None:
            start = parse_time(args.start)
            if start is None:
                raise CliError(f"--from: not an RFC 3339 time: {args.start!r}")
        return commands.preview(io, args.cron, args.tz, args.count, start)
    s = connect(args.kubeconfig, args.context, args.namespace)
    ns = _namespace(args, s)
    output = getattr(args, "output", None) or ""
    if args.command == "get":
        return commands.get(s, io, args.names, ns, args.selector, output)
    assert ns is not None or args.command in ("suspend", "resume")
    if args.command in ("suspend", "resume"):
        enabled = args.command == "resume"
        return commands.set_enabled(s, io, args.names, ns, args.selector, enabled)
    namespace = str(ns)
    if args.command == "describe":
        return commands.describe(s, io, namespace, args.name)
    if args.command == "history":
        return commands.history(s, io, namespace, args.name, output)
    if args.command == "logs":
        return commands.logs(s, io, namespace, args.name, args.run, args.follow)
    return commands.run(
        s,
        io,
        namespace,
        args.name,
        key=args.key,
        wait=args.wait,
        follow=args.follow,
        timeout=args.timeout,
    )


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    io = Io(out or sys.stdout, err or sys.stderr, viewer_zone())
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == [COMPLETE]:
        complete(words[1:], io.out)
        return 0
    args = parser().parse_args(words)
    try:
        return dispatch(args, io)
    except CliError as exc:
        io.note(f"error: {exc.message}")
        return exc.code
    except ScheduleError as exc:
        io.note(f"error: {exc}")
    except ConfigError as exc:
        io.note(f"error: kubeconfig: {exc}")
    except ApiError as exc:
        io.note(f"error: the API server answered {exc.status.code}: {exc.status.message}")
    except http.HTTPError as exc:
        io.note(f"error: cannot reach the API server: {type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a person gets one line, never a trace
        io.note(f"error: unexpected {type(exc).__name__}: {exc} (a bug: please report it)")
    return 1


def _flags() -> dict[str, list[str]]:
    """Each command's flags, read from the parser (completion offers them)."""
    top = parser()
    (sub,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return {
        name: sorted({o for a in p._actions for o in a.option_strings if o.startswith("--")})
        for name, p in sub.choices.items()
    }


def _job_names(words: Sequence[str]) -> list[str]:
    """The job names for completion (nothing when the cluster cannot say)."""
    try:
        kubeconfig = flag_value(words, "--kubeconfig")
        s = connect(Path(kubeconfig) if kubeconfig else None, flag_value(words, "--context"), None)
        ns = flag_value(words, "-n", "--namespace") or s.namespace
        return [o["metadata"]["name"] for o in s.list_jobs(ns)]
    except Exception:  # noqa: BLE001 - completion never fails the shell
        return []


def complete(words: Sequence[str], out: TextIO) -> None:
    for word in candidates(words, _flags(), _job_names, JOB_COMMANDS):
        print(word, file=out)


def complete_main() -> int:
    """``kubectl_complete-chronos``: kubectl's plugin completion protocol (one candidate a
    line, then ``:<directive>``; 4 = no file completion)."""
    complete(sys.argv[1:], sys.stdout)
    print(":4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
