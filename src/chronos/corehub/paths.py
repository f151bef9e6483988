"""The one place that turns CoreHub path templates and values into request targets.

Every value that goes into a CoreHub URL (a pipeline, entity or group id, a command's
action, a query parameter) is percent-encoded here, and nowhere else: a path segment
holds exactly one value whatever it contains, so an id such as ``x/../../a#`` can never
move a request to another CoreHub path, its query or a fragment (issue 17). The ids are
also refused earlier by the models' pattern (``chronos.models.rules.COREHUB_ID``), which
admits only characters this encoding leaves as they are; this is the defence in depth
for anything that bypassed the models.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from urllib.parse import quote

from chronos.corehub.errors import UnsafeIdError

#: The documented CoreHub calls (/work/shared/corehub-api.md), each a template whose
#: ``{name}`` placeholders are filled with ``path``.
LOGIN = "/authentication/login"
PIPELINES = "/pipelines"
PIPELINE = "/pipelines/{pipeline}"
ENTITIES = "/pipelines/{pipeline}/entities"
GROUPS = "/pipelines/{pipeline}/config/groups"
ENTITIES_STATUS = "/pipelines/{pipeline}/entities-status"
SNAPSHOT_STATUS = "/pipelines/{pipeline}/snapshot-status"
SYNC_COMMAND = "/pipelines/{pipeline}/commands/sync/{action}"
MAINTENANCE_COMMAND = "/pipelines/{pipeline}/commands/maintenance/{action}"

#: Segments that mean something to a path resolver (RFC 3986 §5.2.4) or nothing at all.
_NOT_A_SEGMENT = frozenset({"", ".", ".."})
_FORMATTER = string.Formatter()


def encode(value: str) -> str:
    """``value`` percent-encoded (UTF-8) except for RFC 3986's unreserved characters.

    Unreserved are ``A-Z a-z 0-9 - . _ ~``: every other character, ``/ ? # % :`` and
    spaces included, becomes ``%XX``, so the result is one path segment or one query
    name or value, and ``urllib.parse.unquote`` gives ``value`` back.
    """
    try:
        return quote(value, safe="", encoding="utf-8", errors="strict")
    except UnicodeEncodeError:
        # A lone surrogate has no UTF-8 form: there is nothing CoreHub could match.
        raise UnsafeIdError(f"{value!r} cannot be encoded as UTF-8") from None


def segment(value: str) -> str:
    """``value`` as exactly one encoded path segment; empty, ``.`` and ``..`` are refused
    (a resolver would drop them or climb a level, whatever is around them)."""
    if value in _NOT_A_SEGMENT:
        raise UnsafeIdError(f"{value!r} cannot be a CoreHub path segment")
    return encode(value)


def path(template: str, **values: str) -> str:
    """``template`` with each ``{name}`` replaced by ``segment(values[name])``.

    A template must be one of the constants above: literal text comes only from code,
    every value from ``values``, and a value always fills a whole segment.
    """
    parts = list(_FORMATTER.parse(template))
    out: list[str] = []
    for index, (literal, name, spec, conversion) in enumerate(parts):
        out.append(literal)
        if name is None:
            continue
        after = parts[index + 1][0] if index + 1 < len(parts) else ""
        whole = literal.endswith("/") and (after == "" or after.startswith("/"))
        if spec or conversion or not whole:
            raise ValueError(f"template {template!r}: {{{name}}} must fill a whole segment")
        out.append(segment(values[name]))
    return "".join(out)


def query(params: Sequence[tuple[str, str]]) -> str:
    """``name=value&...`` with each name and value encoded by ``encode``."""
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in params)


def target(path_: str, params: Sequence[tuple[str, str]] = ()) -> str:
    """A built ``path`` and its query: what is sent in the request line."""
    return f"{path_}?{query(params)}" if params else path_
