"""Build the benchmark's messages: deterministic, realistic enough for the policy to do real work.

Trusts nothing and reads nothing: every message is generated from a seeded random source, so
runs compare like with like. Hands RFC 5322 bytes (CRLF line endings, not dot-stuffed) to the
load generators in bench.load.
"""

from __future__ import annotations

import base64
import io
import random
import zipfile
from dataclasses import dataclass

SENDER = "bench@gto.gob.mx"
RECIPIENT = "destino@ejemplo.mx"
_VOCABULARY = (
    "oficio", "secretaría", "gobierno", "estado", "dirección", "general", "informe", "presupuesto",
    "reunión", "atentamente", "municipio", "licitación", "expediente", "anexo", "trámite", "ciudadano",
)  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """One message to send, with its envelope."""

    name: str
    data: bytes
    mail_from: str = SENDER
    rcpt_tos: tuple[str, ...] = (RECIPIENT,)


def _words(rng: random.Random, size: int) -> bytes:
    lines: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(_VOCABULARY) for _ in range(11))
        lines.append(line)
        total += len(line.encode()) + 2
    return "\r\n".join(lines).encode()


def _headers(rng: random.Random, subject: str, mail_from: str, to: str, extra: str = "") -> bytes:
    number = rng.getrandbits(48)
    return (
        f"From: Oficina <{mail_from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
        f"Date: Mon, 23 Nov 2026 10:00:00 -0600\r\nMessage-ID: <{number:x}@gto.gob.mx>\r\n"
        f"MIME-Version: 1.0\r\n{extra}"
    ).encode()


def _base64(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _pdf(rng: random.Random, size: int) -> bytes:
    body = rng.randbytes(size)
    return (
        b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\nstream\n" + body + b"\n%%EOF\n"
    )


def _png(rng: random.Random, size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(size)


def _zip(rng: random.Random, files: int, size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(files):
            # half text (compresses), half noise (does not): a realistic mixed archive
            content = _words(rng, size // 2) + rng.randbytes(size // 2)
            archive.writestr(f"anexo-{index + 1:02d}.docx", content)
    return buffer.getvalue()


def _multipart(rng: random.Random, subject: str, text_size: int,
               attachments: list[tuple[str, str, bytes]], mail_from: str = SENDER) -> bytes:  # fmt: skip
    boundary = f"==bench{rng.getrandbits(64):016x}"
    head = _headers(rng, subject, mail_from, RECIPIENT,
                    f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n')  # fmt: skip
    parts = [
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + _words(rng, text_size)
    ]
    for name, kind, payload in attachments:
        parts.append(
            f'Content-Type: {kind}; name="{name}"\r\nContent-Transfer-Encoding: base64\r\n'
            f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'.encode()
            + _base64(payload)
        )
    delimiter = f"\r\n--{boundary}\r\n".encode()
    return head + b"\r\n" + delimiter.join([b"", *parts])[2:] + f"\r\n--{boundary}--\r\n".encode()


def plain(size: int = 10 * 1024, seed: int = 1) -> Sample:
    """A plain text message of about ``size`` bytes."""
    rng = random.Random(seed)
    head = _headers(rng, "Informe semanal", SENDER, RECIPIENT,
                    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")  # fmt: skip
    return Sample(f"{size // 1024} KB plain", head + b"\r\n" + _words(rng, size - len(head) - 2) + b"\r\n")


def with_pdf(seed: int = 2) -> Sample:
    """About 100 KB: a short letter with a PDF."""
    rng = random.Random(seed)
    data = _multipart(
        rng, "Oficio con anexo", 2048, [("oficio-123.pdf", "application/pdf", _pdf(rng, 72_000))]
    )
    return Sample("100 KB with a PDF", data)


def with_attachments(seed: int = 3) -> Sample:
    """About 1 MB: a PDF, an image and a spreadsheet-like archive."""
    rng = random.Random(seed)
    attachments = [
        ("informe.pdf", "application/pdf", _pdf(rng, 420_000)),
        ("foto.png", "image/png", _png(rng, 200_000)),
        ("tablas.zip", "application/zip", _zip(rng, 3, 40_000)),
    ]
    return Sample("1 MB with attachments", _multipart(rng, "Informe mensual", 8192, attachments))


def with_zip(total: int = 20 * 1024 * 1024, seed: int = 4) -> Sample:
    """About ``total`` bytes: a letter with a zip of ten files."""
    rng = random.Random(seed)
    archive = _zip(rng, 10, int(total * 0.75 / 10 * 1.75))
    data = _multipart(rng, "Expediente completo", 4096, [("expediente.zip", "application/zip", archive)])
    return Sample(f"{len(data) / 2**20:.0f} MB with a zip of ten files", data)


def dangerous(seed: int = 5) -> Sample:
    """A message the default policy refuses (attach.dangerous: an executable)."""
    rng = random.Random(seed)
    program = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + rng.randbytes(6000)
    return Sample(
        "refused: .exe",
        _multipart(rng, "Actualización", 2048, [("factura.exe", "application/octet-stream", program)]),
    )


def held(seed: int = 6) -> Sample:
    """A message the default policy holds for approval: a masivo (POLICY.md, 002 masivos)."""
    rng = random.Random(seed)
    # own dependency plus 59 outside it: a masivo by 000's definition (no freemail: that refuses)
    recipients = ("personal@gto.gob.mx", *(f"contacto{i}@proveedor{i % 5}.com.mx" for i in range(59)))
    head = _headers(rng, "Invitación al evento", SENDER, recipients[0],
                    "Content-Type: text/plain; charset=utf-8\r\n")  # fmt: skip
    return Sample("held: masivo", head + b"\r\n" + _words(rng, 8000) + b"\r\n", SENDER, recipients)
