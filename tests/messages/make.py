"""Write the attachment test messages under tests/messages/<rule id>/<case>.eml.

Run from the repository root: `.venv/bin/python tests/messages/make.py`. Deterministic: running it
again rewrites the same bytes. Each case is named for what it shows (THREATS.md row in comments);
the payloads are minimal but real (a PE header libmagic recognises, a ZIP Python can read).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import random
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
HEAD = "From: ana@gto.gob.mx\nTo: luis@gto.gob.mx\nSubject: {subject}\nMessage-ID: <{case}@gto.gob.mx>\n"
MIME = "MIME-Version: 1.0\n"

# A minimal PE32 header: MZ stub pointing at "PE\0\0" with an i386 COFF header (libmagic: PE32)
PE = (
    b"MZ" + b"\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + struct.pack("<I", 64)
    + b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102) + b"\x0b\x01" + b"\x00" * 400
)  # fmt: skip
COM = b"\xb4\x09\xba\x0c\x01\xcd\x21\xb4\x4c\xcd\x21Hola$"  # libmagic: COM executable for DOS
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + (b"\xff\xfb\x90\x64" + b"\x00" * 413) * 8
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free" + b"\x00" * 200
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x44\xac\x00\x00\x88\x58\x01\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SEVEN_Z = b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 120
RAR = b"Rar!\x1a\x07\x01\x00" + b"\x00" * 120
ISO = b"\x00" * 0x8001 + b"CD001\x01" + b"\x00" * 2048


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


def attachment(data: bytes, headers: str, body: str | None = None) -> str:
    return headers + "\n" + (b64(data) if body is None else body)


def simple(ctype: str, name: str, data: bytes) -> str:
    return attachment(
        data,
        f'Content-Type: {ctype}; name="{name}"\nContent-Transfer-Encoding: base64\n'
        f'Content-Disposition: attachment; filename="{name}"\n',
    )


TEXT = "Content-Type: text/plain; charset=utf-8\n\nLes envío el documento solicitado.\nSaludos.\n"


def mixed(case: str, *parts: str, boundary: str = "frontera", subject: str = "Documento") -> str:
    body = "".join(f"--{boundary}\n{part}\n" for part in (TEXT, *parts))
    return (
        HEAD.format(subject=subject, case=case) + MIME
        + f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n{body}--{boundary}--\n'
    )  # fmt: skip


def zipped(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            # A fixed date keeps the generated files byte-identical from run to run
            archive.writestr(zipfile.ZipInfo(name, (2026, 11, 23, 10, 0, 0)), data, method)
    return buffer.getvalue()


def tarred(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            entry = tarfile.TarInfo(name)
            entry.size, entry.mtime = len(data), 1795428000
            archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def encrypted_zip() -> bytes:
    """A ZIP whose member has the "encrypted" flag (ZipCrypto): Python cannot write real ones."""
    data = bytearray(zipped(("contrato.pdf", PDF * 4), method=zipfile.ZIP_STORED))
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + flag_offset] |= 0x01
    return bytes(data)


def overlapping_zip() -> bytes:
    """Two central-directory entries pointing at the same local header (Fifield's bomb shape)."""
    data = zipped(("a.txt", b"hola " * 100))
    cd = data.find(b"PK\x01\x02")
    eocd = data.find(b"PK\x05\x06")
    entry = data[cd:eocd]
    end = bytearray(data[eocd:])
    struct.pack_into("<HHI", end, 8, 2, 2, len(entry) * 2)
    return data[:cd] + entry + entry + bytes(end)


def lying_zip() -> bytes:
    """A bomb that declares a small size: only streaming with a cap can tell (THREATS.md Z4)."""
    data = bytearray(zipped(("datos.txt", bytes(4 << 20))))
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        struct.pack_into("<I", data, data.find(signature) + size_offset, 4096)
    return bytes(data)


def yenc(name: str, data: bytes) -> str:
    encoded = bytearray()
    for byte in data:
        value = (byte + 42) % 256
        if value in (0, 10, 13, 61):
            encoded += b"=" + bytes([(value + 64) % 256])
        else:
            encoded.append(value)
    body = bytes(encoded).decode("ascii", "surrogateescape")  # written back as the raw bytes
    lines = [body[i : i + 128] for i in range(0, len(body), 128)]
    return "\n".join([f"=ybegin line=128 size={len(data)} name={name}", *lines, f"=yend size={len(data)}"])


def tnef(name: str, payload: bytes) -> bytes:
    """A winmail.dat (MS-OXTNEF) with one attachment."""

    def attribute(level: int, ident: int, kind: int, data: bytes) -> bytes:
        checksum = sum(data) & 0xFFFF
        return struct.pack("<BHHI", level, ident, kind, len(data)) + data + struct.pack("<H", checksum)

    return (
        b"\x78\x9f\x3e\x22" + b"\x01\x00"
        + attribute(1, 0x9006, 0x0008, b"\x00\x00\x01\x00")
        + attribute(2, 0x9002, 0x0006, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)
        + attribute(2, 0x8010, 0x0001, name.encode() + b"\x00")
        + attribute(2, 0x800F, 0x0006, payload)
    )  # fmt: skip


def uuencode(name: str, data: bytes) -> str:
    lines = [f"begin 644 {name}"]
    for start in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[start : start + 45]).decode().rstrip("\n"))
    return "\n".join([*lines, "`", "end"])


def nested(depth: int) -> str:
    parts = []
    for level in range(depth):
        parts.append(f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n')
    inner = "Content-Type: text/plain\n\nfondo\n"
    closing = "".join(f"\n--b{level}--\n" for level in reversed(range(depth)))
    return "".join(parts) + inner + closing


def rfc822(case: str, inner: str, encoding: str = "7bit") -> str:
    inner = inner.replace("frontera", "interna")
    body = b64(inner.encode()) if encoding == "base64" else inner
    return mixed(
        case, f"Content-Type: message/rfc822\nContent-Transfer-Encoding: {encoding}\n\n{body}", subject="Fwd"
    )


def dangerous() -> dict[str, str]:
    rtl = "factura\u202efdp.vbs"
    cases: dict[str, Callable[[str], str]] = {
        # hits
        "exe-attachment": lambda c: mixed(c, simple("application/octet-stream", "setup.exe", PE)),
        "double-extension": lambda c: mixed(c, simple("application/pdf", "informe.pdf.bat", b"@echo off\r\n")),
        "trailing-dots": lambda c: mixed(c, simple("text/plain", "informe.cmd. . ", b"@echo off\r\n")),
        "uppercase": lambda c: mixed(c, simple("text/plain", "INFORME.VBS", b"MsgBox 1\r\n")),
        "rtl-override": lambda c: mixed(c, attachment(b"MsgBox 1\r\n",
            "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename*=utf-8''" + _pct(rtl) + "\n")),
        "rfc2231-continuation": lambda c: mixed(c, attachment(b"@echo off\r\n",
            "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment;\n filename*0*=utf-8''lista%20de;\n filename*1*=%20pagos.b;\n"
            " filename*2=at\n")),
        "rfc2047-filename": lambda c: mixed(c, attachment(b"@echo off\r\n",
            "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
            'Content-Disposition: attachment; filename="=?utf-8?B?'
            + base64.b64encode("acción.exe".encode()).decode() + '?="\n')),
        "name-only": lambda c: mixed(c, attachment(b"@echo off\r\n",
            'Content-Type: application/octet-stream; name="pagos.bat"\nContent-Transfer-Encoding: base64\n')),
        "filename-and-name-differ": lambda c: mixed(c, attachment(b"@echo off\r\n",
            'Content-Type: application/pdf; name="pagos.scr"\nContent-Transfer-Encoding: base64\n'
            'Content-Disposition: attachment; filename="pagos.pdf"\n')),
        "duplicate-filename": lambda c: mixed(c, attachment(b"@echo off\r\n",
            "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
            'Content-Disposition: attachment; filename="pagos.pdf"; filename="pagos.pif"\n')),
        "quote-injection": lambda c: mixed(c, attachment(PDF,
            "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
            'Content-Disposition: attachment; filename="pagos.pdf"x.exe"\n')),
        "nul-in-filename": lambda c: mixed(c, attachment(b"MsgBox 1\r\n",
            "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n"
            'Content-Disposition: attachment; filename="acta.vbs\x00.txt"\n')),
        "unquoted-space": lambda c: mixed(c, attachment(b"MsgBox 1\r\n",
            "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=mi acta.vbs\n")),
        "pe-named-pdf": lambda c: mixed(c, simple("application/pdf", "informe.pdf", PE)),
        "com-without-name": lambda c: mixed(c, attachment(COM,
            "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n")),
        "script-named-txt": lambda c: mixed(c, simple("text/plain", "notas.txt", b"#!/bin/sh\nrm -rf ~\n")),
        # libmagic 5.44+ names Python "text/x-script.python", not "text/x-python"
        "python-named-txt": lambda c: mixed(c, simple("text/plain", "datos.txt",
                                                      b"import os\nimport sys\n\ndef main():\n    os.system(sys.argv[1])\n")),
        "duplicate-disposition": lambda c: mixed(c, attachment(PDF,
            'Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n'
            'Content-Disposition: attachment; filename="oficio.pdf"\nContent-Disposition: inline\n')),
        "encoded-boundary": lambda c: HEAD.format(subject="x", case=c) + MIME
        + "Content-Type: multipart/mixed; boundary*=utf-8''frontera\n\n--frontera\n"
        + simple("application/pdf", "oficio.pdf", PDF) + "\n--frontera--\n",
        "duplicate-cte": lambda c: mixed(c, attachment(PE,
            'Content-Type: application/pdf; name="a.pdf"\nContent-Transfer-Encoding: 7bit\n'
            "Content-Transfer-Encoding: base64\n")),
        "base64-case-whitespace": lambda c: mixed(c, attachment(PE,
            'Content-Type: application/pdf; name="a.pdf"\nContent-Transfer-Encoding: BASE64 \t\n')),
        "base64-garbage": lambda c: mixed(c, attachment(PDF,
            'Content-Type: application/pdf; name="a.pdf"\nContent-Transfer-Encoding: base64\n',
            body="JVBERi0x*LjQK!!\n")),
        "base64-concatenated": lambda c: mixed(c, attachment(PE,
            'Content-Type: application/pdf; name="a.pdf"\nContent-Transfer-Encoding: base64\n',
            body="TQ==\n" + base64.b64encode(PE[1:]).decode() + "\n")),
        "forwarded-message": lambda c: rfc822(c, mixed("inner", simple("application/octet-stream", "setup.exe", PE))),
        "base64-forwarded-message": lambda c: rfc822(
            c, mixed("inner", simple("application/octet-stream", "setup.exe", PE)), "base64"),
        "depth-bomb": lambda c: HEAD.format(subject="x", case=c) + MIME + nested(1000),
        "too-deep": lambda c: HEAD.format(subject="x", case=c) + MIME + nested(30),
        "undeclared-boundary": lambda c: HEAD.format(subject="x", case=c) + MIME
        + 'Content-Type: multipart/mixed; boundary="declarada"\n\n--otra\n'
        + simple("application/octet-stream", "setup.exe", PE) + "\n--otra--\n",
        "duplicate-boundary": lambda c: HEAD.format(subject="x", case=c) + MIME
        + 'Content-Type: multipart/mixed; boundary="uno"; boundary="dos"\n\n--dos\n'
        + simple("application/octet-stream", "setup.exe", PE) + "\n--dos--\n",
        "header-bare-cr": lambda c: HEAD.format(subject="x", case=c).replace(
            "Subject: x\n", "Subject: x\rFrom: mallory@evil.example\n") + MIME + TEXT,
        "header-nul": lambda c: HEAD.format(subject="x\x00y", case=c) + MIME + TEXT,
        "uuencode": lambda c: HEAD.format(subject="Programa", case=c) + MIME
        + "Content-Type: text/plain\n\nAdjunto el programa:\n\n" + uuencode("setup.exe", PE) + "\n",
        "yenc": lambda c: HEAD.format(subject="Programa", case=c) + MIME
        + "Content-Type: text/plain\n\nAdjunto:\n" + yenc("setup.exe", PE) + "\n",
        "binhex": lambda c: HEAD.format(subject="Programa", case=c) + MIME
        + "Content-Type: text/plain\n\n(This file must be converted with BinHex 4.0)\n:!!!\n",
        "boundary-continuation": lambda c: HEAD.format(subject="x", case=c) + MIME
        + 'Content-Type: multipart/mixed; boundary*0="fron"; boundary*1="tera"\n\n--frontera\n'
        + simple("application/pdf", "oficio.pdf", PDF) + "\n--frontera--\n",
        "zip-bomb-lying-size": lambda c: mixed(c, simple("application/zip", "datos.zip", lying_zip())),
        "winmail-dat": lambda c: mixed(c, simple("application/ms-tnef", "winmail.dat", tnef("setup.exe", PE))),
        "eml-as-octet-stream": lambda c: mixed(c, simple("application/octet-stream", "reenvio.eml",
            mixed("inner", simple("application/octet-stream", "setup.exe", PE)).replace("frontera", "interna")
            .encode())),
        "eml-in-zip": lambda c: mixed(c, simple("application/zip", "correos.zip", zipped(("reenvio.eml",
            mixed("inner", simple("application/pdf", "informe.pdf", PE)).replace("frontera", "interna").encode())))),
        "zip-with-exe": lambda c: mixed(c, simple("application/zip", "docs.zip", zipped(("a/setup.exe", PE)))),
        "zip-pe-named-txt": lambda c: mixed(c, simple("application/zip", "docs.zip", zipped(("leeme.txt", PE)))),
        "zip-in-zip": lambda c: mixed(c, simple("application/zip", "docs.zip",
            zipped(("interno.zip", zipped(("setup.exe", PE)))))),
        "zip-too-deep": lambda c: mixed(c, simple("application/zip", "docs.zip", _deep_zip(7))),
        "tar-gz-with-exe": lambda c: mixed(c, simple("application/gzip", "respaldo.tar.gz", gzip.compress(
            tarred(("respaldo/leeme.txt", b"hola\n"), ("respaldo/setup.exe", PE)), mtime=0))),
        "zip-with-tgz": lambda c: mixed(c, simple("application/zip", "docs.zip", zipped(
            ("respaldo.tgz", gzip.compress(tarred(("setup.scr", b"x")), mtime=0))))),
        "gzip-bomb": lambda c: mixed(c, simple("application/gzip", "datos.csv.gz", gzip.compress(bytes(20 << 20), mtime=0))),
        "encrypted-zip": lambda c: mixed(c, simple("application/zip", "contrato.zip", encrypted_zip())),
        "zip-bomb": lambda c: mixed(c, simple("application/zip", "datos.zip", zipped(("datos.txt", bytes(20 << 20))))),
        "overlapping-zip": lambda c: mixed(c, simple("application/zip", "datos.zip", overlapping_zip())),
        "concatenated-zip": lambda c: mixed(c, simple("application/zip", "docs.zip",
            zipped(("setup.exe", PE)) + zipped(("leeme.txt", b"hola\n")))),
        "data-before-zip": lambda c: mixed(c, simple("application/zip", "docs.zip",
            b"relleno " * 16 + zipped(("leeme.txt", b"hola\n")))),
        "iso-image": lambda c: mixed(c, simple("application/octet-stream", "factura.iso", ISO)),
        "iso-named-pdf": lambda c: mixed(c, simple("application/pdf", "factura.pdf", ISO)),
        "7z-archive": lambda c: mixed(c, simple("application/x-7z-compressed", "docs.7z", SEVEN_Z)),
        "rar-archive": lambda c: mixed(c, simple("application/octet-stream", "docs.rar", RAR)),
        "message-partial": lambda c: mixed(c, 'Content-Type: message/partial; id="x"; number=1; total=2\n\n'
            "Content-Type: application/octet-stream\n\nTVo=\n"),
        # controls that must pass
        "pdf": lambda c: mixed(c, simple("application/pdf", "oficio.pdf", PDF)),
        "png": lambda c: mixed(c, simple("image/png", "logo.png", PNG)),
        "docx": lambda c: mixed(c, simple(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "oficio.docx", _docx())),
        "zip-of-text": lambda c: mixed(c, simple("application/zip", "actas.zip",
            zipped(("acta1.txt", b"Acta de la sesion 1\n" * 50), ("acta2.txt", b"Acta de la sesion 2\n" * 50)))),
        "gzip-of-text": lambda c: mixed(c, simple("application/gzip", "padron.csv.gz",
            gzip.compress(b"1,Dependencia,Partida\n" * 200, mtime=0))),
        "tar-of-text": lambda c: mixed(c, simple("application/x-tar", "actas.tar",
            tarred(("acta1.txt", b"Acta 1\n"), ("acta2.txt", b"Acta 2\n")))),
        "body-mentions-exe": lambda c: HEAD.format(subject="Instalador", case=c) + MIME
        + "Content-Type: text/plain; charset=utf-8\n\nNo abra archivos .exe que le lleguen por correo;\n"
        "begin by reading setup.exe instructions at the intranet.\n",
        "executive-summary": lambda c: mixed(c, simple("application/pdf", "executive_summary.pdf", PDF)),
        "missing-close-boundary": lambda c: mixed(c, simple("application/pdf", "oficio.pdf", PDF)).rsplit(
            "--frontera--", 1)[0],
        "eml-clean-as-file": lambda c: mixed(c, simple("application/octet-stream", "reenvio.eml",
            mixed("inner", simple("application/pdf", "oficio.pdf", PDF)).replace("frontera", "interna").encode())),
        "forwarded-clean": lambda c: rfc822(c, mixed("inner", simple("application/pdf", "oficio.pdf", PDF))),
        "smime-signed": lambda c: HEAD.format(subject="Firmado", case=c) + MIME
        + 'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; '
        'boundary="firma"\n\n--firma\n' + TEXT + "\n--firma\n"
        + simple("application/pkcs7-signature", "smime.p7s", bytes.fromhex("3082010906092a864886f70d010702a0") * 8)
        + "\n--firma--\n",
        "ascii-fallback-filename": lambda c: mixed(c, attachment(PDF,
            "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=\"informe_ano.pdf\";\n"
            " filename*=utf-8''informe_a%C3%B1o.pdf\n")),
        "encoded-filename-pdf": lambda c: mixed(c, attachment(PDF,
            "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename*=utf-8''informe%20a%C3%B1o.pdf\n")),
    }  # fmt: skip
    return {case: build(case) for case, build in cases.items()}


def _pct(text: str) -> str:
    return "".join(f"%{byte:02X}" if byte > 0x7E or byte < 0x21 else chr(byte) for byte in text.encode())


def _deep_zip(levels: int) -> bytes:
    data = zipped(("leeme.txt", b"hola\n"))
    for level in range(levels):
        data = zipped((f"nivel{level}.zip", data))
    return data


def _docx() -> bytes:
    return zipped(
        (
            "[Content_Types].xml",
            b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        ),
        ("_rels/.rels", b'<?xml version="1.0"?><Relationships/>'),
        ("word/document.xml", b'<?xml version="1.0"?><w:document><w:body>Oficio</w:body></w:document>'),
        ("word/media/image1.png", PNG),
    )


def media() -> dict[str, str]:
    cases: dict[str, Callable[[str], str]] = {
        "mp3-attachment": lambda c: mixed(c, simple("audio/mpeg", "cancion.mp3", MP3)),
        "mp3-named-pdf": lambda c: mixed(c, simple("application/pdf", "acta.pdf", MP3)),
        "wav-octet-stream": lambda c: mixed(c, attachment(WAV,
            "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n")),
        "video-declared": lambda c: mixed(c, simple("video/mp4", "clip.bin", b"\x00" * 64)),
        "video-extension": lambda c: mixed(c, simple("application/octet-stream", "evento.avi", b"\x00" * 64)),
        "mp4-true-type": lambda c: mixed(c, simple("application/octet-stream", "archivo.dat", MP4)),
        "mp3-in-zip": lambda c: mixed(c, simple("application/zip", "musica.zip", zipped(("pista.dat", MP3)))),
        # controls
        "png": lambda c: mixed(c, simple("image/png", "logo.png", PNG)),
        "pdf": lambda c: mixed(c, simple("application/pdf", "oficio.pdf", PDF)),
        "docx-with-image": lambda c: mixed(c, simple(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "oficio.docx", _docx())),
        "pptx-with-video": lambda c: mixed(c, simple(
            "application/vnd.openxmlformats-officedocument.presentationml.presentation", "evento.pptx",
            zipped(("[Content_Types].xml", b"<Types/>"), ("ppt/media/media1.mp4", MP4)))),
    }  # fmt: skip
    return {case: build(case) for case, build in cases.items()}


def uncompressed() -> dict[str, str]:
    rows = "".join(f"{n},Dependencia {n % 37},Partida {n % 101},{n * 17 % 9973}.00\n" for n in range(40000))
    noise = random.Random(7).randbytes(1200 * 1024)
    cases: dict[str, Callable[[str], str]] = {
        "large-csv": lambda c: mixed(c, simple("text/csv", "padron.csv", rows.encode())),
        "large-bmp": lambda c: mixed(c, simple("image/bmp", "plano.bmp", b"BM" + bytes(1100 * 1024))),
        # controls
        "large-zip": lambda c: mixed(c, simple("application/zip", "padron.zip", zipped(("padron.csv", rows.encode())))),
        "large-png": lambda c: mixed(c, simple("image/png", "foto.png", PNG[:33] + noise)),
        "small-csv": lambda c: mixed(c, simple("text/csv", "resumen.csv", rows[:20000].encode())),
    }  # fmt: skip
    return {case: build(case) for case, build in cases.items()}


def main() -> None:
    for rule, cases in (("attach.dangerous", dangerous()), ("attach.media", media()),
                        ("attach.uncompressed", uncompressed())):  # fmt: skip
        folder = HERE / rule
        folder.mkdir(exist_ok=True)
        for case, text in cases.items():
            (folder / f"{case}.eml").write_bytes(text.encode("utf-8", "surrogateescape"))


if __name__ == "__main__":
    main()
