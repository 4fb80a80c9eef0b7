"""The figures behind the held-queue gauges (gateway.store.stats), on both backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from gateway.store import open_store
from tests.gateway.test_store import AT, held_message


async def test_held_counts_and_oldest(store_url: str) -> None:
    store = await open_store(store_url)
    assert await store.held_counts() == {} and await store.oldest_held() is None
    for hours in (1, 3, 2):
        await store.hold(replace(held_message(), created_at=AT - timedelta(hours=hours)))
    assert await store.held_counts() == {"held": 3}
    assert await store.oldest_held() == AT - timedelta(hours=3)
    await store.close()
