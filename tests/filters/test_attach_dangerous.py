"""attach.dangerous on real messages: every evasion of THREATS.md sections 2-3, and the controls."""

from __future__ import annotations

import pytest

from filters import _mime, attach_dangerous
from gateway.model import Action, Context, Envelope, Message, Verdict
from tests.conftest import FixedClock, Gateway, Sink, load, send

RULE = attach_dangerous.RULE
REJECT = Action.REJECT
MALFORMED = "estructura MIME ambigua o dañada: "
LIMIT = "excede los límites de revisión: "
CONTAINER = "contenedor que no se puede revisar: "


async def verdict(case: str, settings: attach_dangerous.Settings | None = None) -> Verdict | None:
    raw = load(RULE, case)
    msg = Message("t", Envelope("ana@gto.gob.mx", ("luis@gto.gob.mx",)), raw, _mime.parse(raw))
    return await attach_dangerous.check(msg, Context(settings or attach_dangerous.Settings(), FixedClock()))


HITS = {
    # names (THREATS.md M1-M10)
    "exe-attachment": "setup.exe",
    "name-only": "pagos.bat",  # M1
    "filename-and-name-differ": "pagos.scr",  # M2: every candidate is checked
    "duplicate-filename": "pagos.pif",  # M2
    "rfc2231-continuation": "lista de pagos.bat",  # M3
    "rfc2047-filename": "acción.exe",  # M4
    "double-extension": "informe.pdf.bat",  # M5
    "trailing-dots": "informe.cmd",  # M6
    "rtl-override": "facturafdp.vbs",  # M7: logical order, bidi character reported too
    "uppercase": "informe.vbs",  # M8
    "unquoted-space": "mi acta.vbs",  # M10
    # true types (M11)
    "pe-named-pdf": "informe.pdf (application/x-dosexec)",
    "com-without-name": "1.2 (application/x-dosexec)",
    "script-named-txt": "notas.txt (text/x-shellscript)",
    "python-named-txt": "datos.txt (text/x-script.python)",
    "base64-case-whitespace": "a.pdf (application/x-dosexec)",  # M12: "BASE64 \t" still decoded
    "base64-concatenated": "a.pdf (application/x-dosexec)",  # M13: every padded segment decoded
    # hidden places (M14, M19, M20, Z1, Z2)
    "forwarded-message": "setup.exe",
    "base64-forwarded-message": "setup.exe",
    "eml-as-octet-stream": "setup.exe",
    "eml-in-zip": "informe.pdf (application/x-dosexec)",
    "uuencode": "setup.exe",
    "yenc": "setup.exe",
    "winmail-dat": "setup.exe",
    "zip-with-exe": "setup.exe",
    "zip-pe-named-txt": "leeme.txt (application/x-dosexec)",
    "zip-in-zip": "setup.exe",
    "tar-gz-with-exe": "setup.exe",
    "zip-with-tgz": "setup.scr",
    # ambiguity fails closed (M9, M12, M13, M16, M18)
    "nul-in-filename": MALFORMED + "NUL or bare CR in a header",
    "quote-injection": MALFORMED + 'text after closing quote: \'"pagos.pdf"x.exe"\'',
    "duplicate-disposition": MALFORMED + "content-disposition given 2 times",
    "encoded-boundary": MALFORMED + "ambiguous boundary parameters ['boundary*']",
    "duplicate-cte": MALFORMED + "content-transfer-encoding given 2 times",
    "base64-garbage": MALFORMED + "3 bytes outside the base64 alphabet",
    "undeclared-boundary": MALFORMED + "MIME defect: StartBoundaryNotFoundDefect",
    "duplicate-boundary": MALFORMED + "MIME defect: StartBoundaryNotFoundDefect",
    "header-bare-cr": MALFORMED + "bare CR in the message",
    "header-nul": MALFORMED + "NUL in the header block",
    "message-partial": MALFORMED + "message/partial cannot be inspected",
    "boundary-continuation": MALFORMED + "ambiguous boundary parameters ['boundary*0', 'boundary*1']",
    "binhex": MALFORMED + "BinHex block not inspected",
    "zip-bomb-lying-size": MALFORMED + "unreadable archive: BadZipFile: Bad CRC-32 for file 'datos.txt'",
    "concatenated-zip": MALFORMED + "157 hidden bytes before the first entry (concatenated archive)",
    "data-before-zip": MALFORMED + "128 hidden bytes before the first entry (concatenated archive)",
    # bounds (M15, Z2, Z4)
    "depth-bomb": LIMIT + "MIME depth over 20",
    "too-deep": LIMIT + "MIME depth over 20",
    "zip-too-deep": LIMIT + "archive nested deeper than 5",
    "zip-bomb": LIMIT + "'datos.txt' declares 20971520 bytes from 20387",
    "gzip-bomb": LIMIT + "'datos.csv.gz' declares 20971520 bytes from 20405",
    "overlapping-zip": LIMIT + "overlapping archive entries (zip bomb, CVE-2024-0450)",
    # containers (Z3, Z6)
    "encrypted-zip": "archivo cifrado, no se puede revisar: encrypted member 'contrato.pdf'",
    "iso-image": CONTAINER + "factura.iso",
    "iso-named-pdf": CONTAINER + "factura.pdf",
    "7z-archive": CONTAINER + "docs.7z",
    "rar-archive": CONTAINER + "docs.rar",
}

CONTROLS = [
    "pdf",
    "png",
    "docx",
    "zip-of-text",
    "gzip-of-text",
    "tar-of-text",
    "body-mentions-exe",
    "executive-summary",
    "encoded-filename-pdf",
    "ascii-fallback-filename",
    "missing-close-boundary",
    "forwarded-clean",
    "eml-clean-as-file",
    "smime-signed",
]


@pytest.mark.parametrize("case", sorted(HITS))
async def test_refused(case: str) -> None:
    assert await verdict(case) == Verdict(REJECT, RULE, HITS[case])


@pytest.mark.parametrize("case", CONTROLS)
async def test_control_passes(case: str) -> None:
    assert await verdict(case) is None


async def test_each_problem_kind_has_its_own_action() -> None:
    settings = attach_dangerous.Settings(
        encrypted_action=Action.HOLD, container_action=Action.TAG, limit_action=Action.TEMPFAIL
    )
    encrypted = "archivo cifrado, no se puede revisar: encrypted member 'contrato.pdf'"
    assert await verdict("encrypted-zip", settings) == Verdict(Action.HOLD, RULE, encrypted)
    assert await verdict("iso-image", settings) == Verdict(Action.TAG, RULE, CONTAINER + "factura.iso")
    assert await verdict("zip-too-deep", settings) == Verdict(
        Action.TEMPFAIL, RULE, LIMIT + "archive nested deeper than 5"
    )


async def test_the_strictest_finding_wins() -> None:
    # An encrypted zip held for review still cannot carry an executable's name past the rule.
    settings = attach_dangerous.Settings(encrypted_action=Action.HOLD)
    assert await verdict("zip-with-exe", settings) == Verdict(REJECT, RULE, "setup.exe")


async def test_rtl_override_is_reported_as_a_hidden_name() -> None:
    view = _mime.parse(load(RULE, "rtl-override"))
    assert [p.kind for p in view.problems] == ["name"]
    # Shown escaped: the reply and the log never carry the bidi character itself
    assert (
        view.problems[0].detail == "bidi, invisible or control character in file name 'factura\\u202efdp.vbs'"
    )


async def test_over_smtp_zip_in_zip_refused_and_docx_relayed(gateway: Gateway, sink: Sink) -> None:
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], load(RULE, "zip-in-zip"))
    expected = (
        "5.7.1 Mensaje rechazado por la regla attach.dangerous (lineamiento 000 norma 18): no se permite "
        "enviar archivos ejecutables o de riesgo (setup.exe). / Message refused by rule attach.dangerous: "
        "executable or dangerous attachments are not allowed."
    )
    assert (code, text) == (550, expected)
    assert sink.handler.received == []
    docx = load(RULE, "docx")
    code, _ = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], docx)
    assert code == 250
    assert [r.data for r in sink.handler.received] == [docx]


async def test_over_smtp_ambiguous_mime_refused(gateway: Gateway, sink: Sink) -> None:
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], load(RULE, "duplicate-cte"))
    assert code == 550 and "attach.dangerous" in text and "content-transfer-encoding given 2 times" in text
    assert sink.handler.received == []
