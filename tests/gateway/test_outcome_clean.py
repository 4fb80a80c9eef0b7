"""The relay skips its own passes only over what gateway.data proved (THREATS.md S4)."""

from __future__ import annotations

from dataclasses import replace

from gateway.model import Envelope, Message
from gateway.outcome import _proven

RAW = b"Subject: informe\r\n\r\nanexo\r\n"
MSG = Message("ID", Envelope("ana@gto.gob.mx", ("luis@ejemplo.mx",)), raw=RAW, crlf_clean=True, dot_free=True)


def test_judged_bytes_and_clean_headers_before_them_are_trusted() -> None:
    assert _proven(MSG, MSG.raw) == (True, True)
    assert _proven(MSG, b"X-Compuerta-Rules: attach.uncompressed\r\n" + MSG.raw) == (True, True)
    assert _proven(replace(MSG, dot_free=False), MSG.raw) == (True, False)


def test_anything_else_is_counted_again() -> None:
    assert _proven(replace(MSG, crlf_clean=False), MSG.raw) == (False, False)  # not read by gateway.data
    assert _proven(MSG, b"DKIM-Signature: v=1;\n\tb=abc\r\n" + MSG.raw) == (False, False)  # bare LF
    assert _proven(MSG, b"X-A: 1\r" + MSG.raw) == (False, False)  # a CR the raw bytes do not complete
    assert _proven(MSG, MSG.raw[:-2] + b"\n") == (False, False)  # not the bytes that were judged


def test_a_dot_line_in_the_headers_put_before_is_stuffed() -> None:
    assert _proven(MSG, b"X-A: 1\r\n.oculto\r\n" + MSG.raw) == (True, False)
    assert _proven(MSG, b".X-A: 1\r\n" + MSG.raw) == (True, False)
