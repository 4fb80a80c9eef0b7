"""Properties of the MIME parser and the whole pipeline over hostile input (issue 9, hypothesis).

For any bytes, and for MIME messages built from the tricks of THREATS.md sections 2-3 and then
mutated: no exception escapes, every message gets a verdict, and a message whose view carries an
inspection Problem is never accepted.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import os
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filters import _mime
from gateway import offline
from gateway.config import Config, build
from gateway.model import Action, MimeView

CONFIG: Config = build({"organization": {"home_domains": ["gto.gob.mx"]}})
PE = b"MZ\x90\x00" + b"\x00" * 56 + b"\x40\x00\x00\x00PE\x00\x00\x4c\x01" + b"\x00" * 64


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


PAYLOADS = st.sampled_from([b"", b"Hola\r\n", PE, _zip("a.exe", PE), _zip("b.zip", _zip("c.txt", b"x")),
                            b"%PDF-1.4\n", b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\xff\xfb" * 40,
                            b"begin 644 a.exe\nM35J0\n`\nend\n", b"\x78\x9f\x3e\x22\x01\x00",
                            gzip.compress(_zip("a.exe", PE)), gzip.compress(b"x" * 5000)]) | st.binary(
    max_size=300
)  # fmt: skip
NAMES = st.sampled_from(['"a.pdf"', '"a.exe"', "mi acta.vbs", '"=?utf-8?B?YS5leGU=?="', '"x"y.exe"',
                         '"factura\u202efdp.vbs"', '"a.exe. "', "", '"acta.vbs\x00.txt"'])  # fmt: skip
ENCODINGS = st.sampled_from(
    ["base64", "BASE64 \t", "quoted-printable", "7bit", "8bit", "x-uuencode", "x-foo", ""]
)
TYPES = st.sampled_from(["application/octet-stream", "application/zip", "text/plain", "audio/mpeg",
                         "application/ms-tnef", "message/rfc822", "image/png", "message/partial"])  # fmt: skip


def _encode(data: bytes, encoding: str) -> bytes:
    if encoding.strip().lower() == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    return data


@st.composite
def leaves(draw: st.DrawFn) -> bytes:
    encoding = draw(ENCODINGS)
    head = f"Content-Type: {draw(TYPES)}; name={draw(NAMES)}\r\nContent-Transfer-Encoding: {encoding}\r\n"
    if draw(st.booleans()):
        head += f"Content-Disposition: attachment; filename={draw(NAMES)}\r\n"
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + _encode(draw(PAYLOADS), encoding)


def _multipart(children: list[bytes], boundary: str) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + child + b"\r\n" for child in children)
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
    return head + body + b"--" + boundary.encode() + b"--\r\n"


TREES = st.recursive(
    leaves(),
    lambda children: st.builds(
        _multipart, st.lists(children, min_size=1, max_size=4), st.sampled_from(["b", "c"])
    ),
    max_leaves=8,
)
SPLICES = st.sampled_from([b"\r", b"\n", b"\x00", b"--b\r\n", b"--c--\r\n", b"=", b"\r\n\r\n", b"PK\x03\x04",
                           b"Content-Transfer-Encoding: base64\r\n", b"; filename*0*=utf-8''a.e; filename*1=xe"])  # fmt: skip


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    raw = b"From: ana@gto.gob.mx\r\nTo: luis@gto.gob.mx\r\nSubject: x\r\nMIME-Version: 1.0\r\n" + draw(TREES)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(SPLICES) + raw[at:]
    return raw


def _parse(raw: bytes) -> MimeView:
    view = _mime.parse(raw)
    # A parser failure is caught and fails closed, but it is still a bug of ours.
    assert not [p for p in view.problems if p.detail.startswith("parser failure")], view.problems
    return view


def _judge(raw: bytes) -> tuple[MimeView, Action]:
    view = _parse(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    result = asyncio.run(offline.check(CONFIG, raw, "ana@gto.gob.mx", ("luis@gto.gob.mx",)))
    return view, result.action


# fuzz/README.md: COMPUERTA_FUZZ_EXAMPLES=4000 for a longer run by hand
EXAMPLES = int(os.environ.get("COMPUERTA_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=3000))
def test_any_bytes_parse_without_exceptions(raw: bytes) -> None:
    assert isinstance(_parse(raw), MimeView)


@SETTINGS
@given(messages())
def test_hostile_mime_never_accepted_with_problems(raw: bytes) -> None:
    view, action = _judge(raw)
    assert isinstance(action, Action)
    if view.problems:
        assert action != Action.ACCEPT, view.problems


@SETTINGS
@given(messages())
def test_dangerous_payload_never_accepted(raw: bytes) -> None:
    # Whatever the wrapping, a PE executable that the parser decoded is never accepted.
    view, action = _judge(raw)
    if any(part.true_type == "application/x-dosexec" for part in view.parts):
        assert action != Action.ACCEPT
