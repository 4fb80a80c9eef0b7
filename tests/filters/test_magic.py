"""filters._magic: the files of an archive typed side by side give libmagic's own answers."""

from __future__ import annotations

import base64
import io
import threading
import zipfile

from filters import _magic, _mime

SCRIPT = b"#!/bin/sh\nrm -rf ~\n"
PROSE = "oficio de la secretaría de gobierno del estado y anexo del expediente\n".encode() * 80
FILES = [
    PROSE,
    b"",
    b"MZ\x90\x00" + bytes(60),
    SCRIPT + PROSE,
    b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
    PROSE.upper(),
    b"<html><body>" + PROSE + b"</body></html>",
]


def test_side_by_side_answers_are_libmagics() -> None:
    expected = [_magic.true_type(data) for data in FILES]
    assert expected[:4] == [
        "text/plain",
        "application/x-empty",
        "application/x-dosexec",
        "text/x-shellscript",
    ]
    assert _magic.true_types(FILES) == expected
    assert _magic.true_types(FILES[:1]) == expected[:1]
    assert _magic.true_types([]) == []


def test_answers_stay_libmagics_when_many_threads_ask_at_once() -> None:
    expected = [_magic.true_type(data) for data in FILES]
    found: list[list[str]] = []
    threads = [threading.Thread(target=lambda: found.append(_magic.true_types(FILES * 3))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [expected * 3] * 4


def test_archive_members_typed_side_by_side() -> None:
    # several members that each need libmagic: each keeps the type libmagic gives it alone
    members = {"acta.txt": PROSE, "limpia.sh.txt": SCRIPT + PROSE, "programa.txt": FILES[2], "vacio.txt": b""}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    attachment = base64.encodebytes(buffer.getvalue()).replace(b"\n", b"\r\n")
    raw = (
        b"From: <ana@gto.gob.mx>\r\nTo: <luis@gto.gob.mx>\r\nSubject: anexos\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: application/zip; name="anexos.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + attachment
    )
    view = _mime.parse(raw)
    found = {part.filenames[0]: part.true_type for part in view.parts if part.in_archive}
    assert found == {name: _magic.true_type(data) for name, data in members.items()}
    assert found["limpia.sh.txt"] == "text/x-shellscript"
    assert found["programa.txt"] == "application/x-dosexec"
