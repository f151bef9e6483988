"""What every part of the operator's work shares: the client, the settings, the watch
cache, the writes it has not shown yet and the memo of runner ServiceAccount look-ups."""

from __future__ import annotations

from dataclasses import dataclass, field

from lightkube import AsyncClient

from chronos.operator.cache import WatchCache
from chronos.operator.expectations import Expectations
from chronos.operator.settings import OperatorSettings


@dataclass
class OperatorContext:
    client: AsyncClient
    settings: OperatorSettings
    cache: WatchCache = field(default_factory=WatchCache)
    #: CronJob writes of this process the cache has not shown yet.
    expectations: Expectations = field(default_factory=Expectations)
    #: namespace -> (monotonic time of the look-up, the runner ServiceAccount exists)
    accounts: dict[str, tuple[float, bool]] = field(default_factory=dict)
    #: namespace -> the runner ServiceAccount exists, as asked in this housekeeping round
    round_accounts: dict[str, bool] = field(default_factory=dict)
