"""The relay skips its CR/LF count only for bytes gateway.data proved clean (THREATS.md S4)."""

from __future__ import annotations

from dataclasses import replace

from gateway.model import Envelope, Message
from gateway.outcome import _crlf_clean

RAW = b"Subject: informe\r\n\r\nanexo\r\n"
MSG = Message("ID", Envelope("ana@gto.gob.mx", ("luis@ejemplo.mx",)), raw=RAW, crlf_clean=True)


def test_judged_bytes_and_clean_headers_before_them_are_trusted() -> None:
    assert _crlf_clean(MSG, MSG.raw)
    assert _crlf_clean(MSG, b"X-Compuerta-Rules: attach.uncompressed\r\n" + MSG.raw)


def test_anything_else_is_counted_again() -> None:
    assert not _crlf_clean(replace(MSG, crlf_clean=False), MSG.raw)  # not read by gateway.data
    assert not _crlf_clean(MSG, b"DKIM-Signature: v=1;\n\tb=abc\r\n" + MSG.raw)  # bare LF before it
    assert not _crlf_clean(MSG, b"X-A: 1\r" + MSG.raw)  # a CR that the raw bytes do not complete
    assert not _crlf_clean(MSG, MSG.raw[:-2] + b"\n")  # not the bytes that were judged
