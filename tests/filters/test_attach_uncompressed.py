"""attach.uncompressed on real messages: large files that would shrink are tagged (001 VI)."""

from __future__ import annotations

import pytest

from filters import _mime, attach_uncompressed
from gateway.model import Action, Context, Envelope, Message, Verdict
from tests.conftest import FixedClock, Gateway, Sink, load, send

RULE = attach_uncompressed.RULE


async def verdict(case: str, settings: attach_uncompressed.Settings | None = None) -> Verdict | None:
    raw = load(RULE, case)
    msg = Message("t", Envelope("ana@gto.gob.mx", ("luis@gto.gob.mx",)), raw, _mime.parse(raw))
    return await attach_uncompressed.check(
        msg, Context(settings or attach_uncompressed.Settings(), FixedClock())
    )


async def test_large_csv_tagged() -> None:
    assert await verdict("large-csv") == Verdict(Action.TAG, RULE, "padron.csv, 1533 KB")


async def test_large_bitmap_tagged() -> None:
    assert await verdict("large-bmp") == Verdict(Action.TAG, RULE, "plano.bmp, 1100 KB")


@pytest.mark.parametrize("case", ["large-zip", "large-png", "small-csv"])
async def test_compressed_or_small_passes(case: str) -> None:
    assert await verdict(case) is None


async def test_threshold_is_configurable() -> None:
    settings = attach_uncompressed.Settings(max_bytes=2 * 1024 * 1024)
    assert await verdict("large-csv", settings) is None


async def test_over_smtp_large_csv_relayed_with_tag(gateway: Gateway, sink: Sink) -> None:
    raw = load(RULE, "large-csv")
    code, _ = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 250
    assert [r.data for r in sink.handler.received] == [b"X-Compuerta-Rules: attach.uncompressed\r\n" + raw]
