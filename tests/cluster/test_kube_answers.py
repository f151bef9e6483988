"""``chronos.kube.or_none`` and ``answered``, the one place an expected API-server answer
(404, 409, 403) turns into a value, against the real API server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from chronos import kube
from chronos.devcluster.cluster import Cluster
from chronos.kube import CONFLICT, NOT_FOUND, answered, or_none

pytestmark = pytest.mark.cluster


def test_or_none_answers_none_only_for_the_codes_it_is_given(
    cluster: Cluster, namespace: str
) -> None:
    name = f"cm-{uuid.uuid4().hex[:6]}"

    async def scenario() -> None:
        client = kube.async_client(cluster.kubeconfig)
        try:
            assert await or_none(client.get(ConfigMap, name, namespace=namespace)) is None
            made = ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace), data={"a": "1"})
            await client.create(made)
            found = await or_none(client.get(ConfigMap, name, namespace=namespace))
            assert found is not None
            assert found.data == {"a": "1"}
            # A second create is a 409: None when a conflict is expected ...
            assert await or_none(client.create(made), CONFLICT) is None
            # ... raised when only a 404 is (the default), and answered() names it.
            with pytest.raises(ApiError) as raised:
                await or_none(client.create(made))
            assert answered(raised.value, CONFLICT)
            assert not answered(raised.value, NOT_FOUND)
            assert not answered(ValueError("not an API answer"), CONFLICT)
        finally:
            await client.close()

    asyncio.run(scenario())
