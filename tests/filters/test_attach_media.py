"""attach.media on real messages: audio and video by true type, declared type or extension (V1)."""

from __future__ import annotations

import pytest

from filters import _mime, attach_media
from gateway.model import Action, Context, Envelope, Message, Verdict
from tests.conftest import FixedClock, Gateway, Sink, load, send

RULE = attach_media.RULE


async def verdict(case: str, settings: attach_media.Settings | None = None) -> Verdict | None:
    raw = load(RULE, case)
    msg = Message("t", Envelope("ana@gto.gob.mx", ("luis@gto.gob.mx",)), raw, _mime.parse(raw))
    return await attach_media.check(msg, Context(settings or attach_media.Settings(), FixedClock()))


HITS = {
    "mp3-attachment": "cancion.mp3 (audio/mpeg)",
    "mp3-named-pdf": "acta.pdf (audio/mpeg)",  # true type beats the name
    "wav-octet-stream": "1.2 (audio/x-wav)",  # no name, generic declared type
    "mp4-true-type": "archivo.dat (video/mp4)",
    "video-declared": "clip.bin (video/mp4)",  # declared type alone
    "video-extension": "evento.avi",  # extension alone
    "mp3-in-zip": "pista.dat (audio/mpeg)",
}


@pytest.mark.parametrize("case", sorted(HITS))
async def test_media_refused(case: str) -> None:
    assert await verdict(case) == Verdict(Action.REJECT, RULE, HITS[case])


@pytest.mark.parametrize("case", ["png", "pdf", "docx-with-image", "pptx-with-video"])
async def test_images_documents_pass(case: str) -> None:
    assert await verdict(case) is None


async def test_hold_is_configurable() -> None:
    settings = attach_media.Settings(action=Action.HOLD)
    assert await verdict("mp3-attachment", settings) == Verdict(Action.HOLD, RULE, "cancion.mp3 (audio/mpeg)")


async def test_over_smtp_mp3_refused(gateway: Gateway, sink: Sink) -> None:
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], load(RULE, "mp3-named-pdf"))
    assert code == 550
    assert text.startswith("5.7.1 Mensaje rechazado por la regla attach.media (lineamiento 002, inciso a)")
    assert "acta.pdf (audio/mpeg)" in text
    assert sink.handler.received == []
