"""A fake Gluesync CoreHub for tests and demos: a real HTTP(S) server, state in memory.

Run it::

    python -m chronos.fakehub --port 1717 [--host 127.0.0.1] [--seed seed.yaml]
        [--tls-cert server.crt --tls-key server.key [--tls-client-ca ca.crt]]
        [--tls-generate DIR] [--user NAME:PASSWORD ...]
        [--activate-delay S] [--stop-delay S] [--snapshot-delay S] [--verbose]

It prints its URL (and, with ``--tls-generate``, the CA file to trust) when it starts.
From Python: ``FakeCoreHub(FakeHubState(seed), tls=...).start()``; ``.url``, ``.stop()``.

**CoreHub calls** (as in /work/shared/corehub-api.md): ``POST /authentication/login``;
``GET /pipelines`` (a bare list, or ``{"pipelines": [...]}`` with ``wrapPipelines``),
``/pipelines/{p}``, ``/pipelines/{p}/entities``, ``/config/groups``,
``/entities-status``, ``/snapshot-status``; ``POST /pipelines/{p}/commands/sync/
{start,stop,one-time-snapshot,redo}[-group]`` and ``commands/maintenance/{enter,exit}``.
Commands answer at once and change the entities later: after ``activate`` seconds a
start makes the entity active (with ``withSnapshot=true`` the migration runs for
``snapshot`` seconds first); a stop takes ``stop`` seconds; a snapshot or redo runs the
migration for ``snapshot`` seconds. Commands on a pipeline in maintenance answer 409,
unknown pipelines/entities/groups 404, bad parameters 400, missing or expired tokens 401.

**Seed** (JSON or YAML; every key optional, defaults in ``state.DEFAULT_SEED``)::

    users: {admin: admin}
    delays: {activate: 0.2, stop: 0.2, snapshot: 0.5}
    wrapPipelines: false
    pipelines:
      - id: p1
        name: Orders
        entities: [{id: e1, name: orders, groupId: _default, active: false}]

**Control API** (JSON; no authentication; ``FakeHubControl`` wraps it):

- ``GET /_fake/health`` → ``{"ok": true}``
- ``POST /_fake/reset`` → back to the seed: entities, users, delays; clears tokens,
  faults and logs
- ``GET /_fake/commands`` → ``{"commands": [...]}``: every request to a ``/commands/``
  path: ``seq, time, method, path, query, params`` (list of ``[name, value]``),
  ``client`` (the caller's IP address), ``received`` (wall clock, epoch seconds) and
  ``receivedMonotonic`` (this process's ``time.monotonic()``) when it arrived,
  ``status`` (null when dropped), ``fault`` (kind or null), ``applied`` (CoreHub
  handled it with a 2xx: a command took effect)
- ``GET /_fake/requests`` → ``{"requests": [...]}``: the same for every CoreHub request,
  and for any control request that carries an ``Authorization`` header (a CoreHub
  client that strayed onto the control API)
- ``GET /_fake/stats`` → ``{"inFlight": {"requests", "logins"}, "peakInFlight": {...},
  "requests"}``: CoreHub requests (and logins alone) being served now, the most at once
  since the last reset, and how many were logged — how hard a burst of runners hit it
- ``POST /_fake/faults`` with ``{"kind", "method"?, "path"? (regex searched in the
  path), "count"? (default 1; null = forever), ...}``; kinds:
  ``status`` (answer ``status``, default 503, with ``message`` and ``retryAfter``),
  ``answer`` (answer ``status``, default 200, with ``json`` — any JSON, ``null``
  too — or else the raw ``text`` with ``contentType``, default an HTML login page:
  what a proxy or a wrong URL gives in CoreHub's place),
  ``latency`` (sleep ``seconds``, then go on), ``drop`` (close the connection without
  an answer); with ``"after": true`` these four act once the request was handled
  (a command applied: "apply, then drop" loses the answer of a command CoreHub acted
  on); ``stuck`` (accept the command but never change the entities; with the entity
  set ``isBusy`` first: busy, and the migration never starts),
  ``expire-token`` (expire the caller's token first, so the request gets 401).
  Faults act in the order they were added; a fault's count is used only when it acts
  on a request, so one kept from acting by an earlier fault's answer (or drop) still
  fires on a later request. ``GET /_fake/faults`` lists them (with the count left),
  ``DELETE /_fake/faults`` clears them.
- ``POST /_fake/tokens/expire`` with ``{"token"?}`` → expire one or every token
- ``GET``/``PUT /_fake/config``: ``{"delays": {...}, "wrapPipelines", "users": {...}}``
- ``GET /_fake/state`` → every pipeline with its entities' runtime status
- ``PUT /_fake/pipelines/{p}/entities/{e}/state`` with any of ``isSyncActive``,
  ``isMigrationActive``, ``isBusy``, ``errorState`` → set it now (pending changes dropped);
  with ``"afterSeconds": S`` the change is scheduled S seconds ahead instead (several
  calls make a timeline; it does not show as ``isBusy``), so a wait task can be met
  later or time out. ``GET /pipelines/{p}`` shows ``isInMaintenanceMode``, set by
  ``commands/maintenance/enter|exit``.
"""

from chronos.fakehub.control import FakeHubControl
from chronos.fakehub.server import FakeCoreHub, server_ssl_context
from chronos.fakehub.state import DEFAULT_SEED, FakeHubState, load_seed
from chronos.fakehub.tls import TLSFiles, generate_tls

__all__ = [
    "DEFAULT_SEED",
    "FakeCoreHub",
    "FakeHubControl",
    "FakeHubState",
    "TLSFiles",
    "generate_tls",
    "load_seed",
    "server_ssl_context",
]
