"""The MIME parser's bounds and readings: every bound reached is a Problem, never a silent pass."""

from __future__ import annotations

import base64
import io
import zipfile
import zlib

import pytest

from filters import _mime
from filters._mime import Limits
from gateway.config import ConfigError, build
from gateway.data import Problem as DataProblem
from gateway.data import judge
from gateway.model import Part, Problem
from tests.conftest import load


def problems(rule: str, case: str, limits: Limits) -> tuple[Problem, ...]:
    return _mime.parse(load(rule, case), limits).problems


def test_part_count_bound() -> None:
    assert problems("attach.dangerous", "pdf", Limits(max_parts=2)) == (
        Problem("limit", "more than 2 parts", "1.2"),
    )


def test_decoded_bytes_bound() -> None:
    assert problems("attach.dangerous", "pdf", Limits(max_decoded_bytes=100)) == (
        Problem("limit", "more than 100 decoded bytes", "1.2"),
    )


def test_header_count_bound() -> None:
    assert problems("attach.dangerous", "body-mentions-exe", Limits(max_headers=3)) == (
        Problem("limit", "more than 3 header fields", "1"),
    )


def test_archive_expansion_budget_is_per_message() -> None:
    # Two members of 1,000 bytes each; the second crosses a 1,500-byte budget.
    assert problems("attach.dangerous", "zip-of-text", Limits(max_expanded=1500)) == (
        Problem("limit", "'acta2.txt' unpacks past 500 bytes (zip bomb)", "1.2"),
    )


def test_archive_member_count_bound() -> None:
    assert problems("attach.dangerous", "zip-of-text", Limits(max_members=1)) == (
        Problem("limit", "archive declares 2 members", "1.2"),
    )


def test_expansion_ratio_bound_while_streaming() -> None:
    # The declared sizes are honest here, so the ratio is caught before a byte is unpacked.
    assert problems("attach.dangerous", "zip-bomb", Limits()) == (
        Problem("limit", "'datos.txt' declares 20971520 bytes from 20387", "1.2"),
    )


def test_archive_members_listed_with_true_types() -> None:
    view = _mime.parse(load("attach.dangerous", "zip-in-zip"))
    assert view.parts[1:] == (
        Part("1.2", "application/zip", ("docs.zip",), "application/zip", 230, True, 1),
        Part("1.2/interno.zip", "", ("interno.zip",), "application/zip", 157, True, 2, True, "archive"),
        Part(
            "1.2/interno.zip/setup.exe",
            "",
            ("setup.exe",),
            "application/x-dosexec",
            490,
            True,
            3,
            True,
            "archive",
        ),
    )


def test_office_document_members_are_marked_as_document() -> None:
    view = _mime.parse(load("attach.dangerous", "docx"))
    assert {p.container for p in view.parts if p.in_archive} == {"document"}


def test_long_header_lines_parse() -> None:
    # THREATS.md M17: if the SMTP line limit is ever raised, 4 KB header lines must still parse.
    raw = b"From: ana@gto.gob.mx\r\nSubject: " + b"x" * 5000 + b"\r\n\r\nHola\r\n"
    view = _mime.parse(raw)
    assert view.problems == () and view.header("subject") == ("x" * 5000,)


def test_mixed_line_endings_are_a_problem() -> None:
    raw = b"From: ana@gto.gob.mx\r\nX-Mailer: x\nFrom: mallory@evil.example\r\n\r\nHola\r\n"
    assert _mime.parse(raw).problems == (Problem("malformed", "bare LF in a message with CRLF line ends"),)


def test_no_action_may_accept() -> None:
    with pytest.raises(ConfigError) as error:
        build({"profile": {"attach.dangerous": {"encrypted_action": "accept"}}})
    assert (
        str(error.value)
        == "profile.attach.dangerous.encrypted_action = 'accept': tag, hold, tempfail or reject"
    )


def test_parse_work_bound() -> None:
    # THREATS.md M15: the feedparser's cost grows with lines times depth; it is stopped, not waited for
    assert problems("attach.dangerous", "body-mentions-exe", Limits(max_parse_work=10)) == (
        Problem("limit", "MIME structure too costly to parse (over 10 line checks)"),
    )


def test_depth_bomb_stopped_before_the_stack_runs_out() -> None:
    assert problems("attach.dangerous", "depth-bomb", Limits(max_depth=5)) == (
        Problem("limit", "MIME depth over 5"),
    )


def test_conflicting_names_are_a_problem_and_both_are_checked() -> None:
    # THREATS.md M2: CPython would return only the first; both names are kept and the conflict noted
    view = _mime.parse(load("attach.dangerous", "duplicate-filename"))
    assert view.parts[1].filenames == ("pagos.pdf", "pagos.pif")
    assert view.problems == (
        Problem("malformed", "conflicting filename values: ['pagos.pdf', 'pagos.pif']", "1.2"),
    )


def test_unquoted_name_with_a_space_is_read_both_ways() -> None:
    # THREATS.md M10: compat32 reads "mi acta.vbs", policy.default reads "mi"
    view = _mime.parse(load("attach.dangerous", "unquoted-space"))
    assert view.parts[1].filenames == ("mi acta.vbs", "mi")
    assert view.problems == (Problem("malformed", "unquoted value with spaces: 'mi acta.vbs'", "1.2"),)


def test_large_attachment_sampled_for_its_compressibility() -> None:
    # attach.uncompressed reads Part.sample_ratio: zlib level 1 on the first 64 KiB of the
    # decoded file, worked out when asked; small files and archive members carry no sample.
    view = _mime.parse(load("attach.uncompressed", "large-csv"))
    [csv] = [part for part in view.parts if part.filenames == ("padron.csv",)]
    assert len(csv.sample) == _mime.LIMITS.sample_bytes
    assert csv.sample_ratio == len(zlib.compress(csv.sample, 1)) / len(csv.sample) < 0.9
    small = _mime.parse(load("attach.dangerous", "zip-in-zip"))
    assert [(p.sample, p.sample_ratio) for p in small.parts if p.is_attachment] == [(b"", 1.0)] * 3


def test_blocks_proven_as_data_was_read_give_the_same_view() -> None:
    # gateway.data proves base64 blocks while judging DATA; the parser skips reading them again
    # and must see what it sees reading every byte: here a program inside a zip, a block of
    # equal lines that is not base64, and a base64 attachment with one line out of the alphabet
    program = b"MZ\x90\x00" + bytes(range(256)) * 400
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("factura.exe", program)

    def attachment(name: str, body: bytes) -> bytes:
        return (
            f'--b\r\nContent-Type: application/octet-stream; name="{name}"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode() + body

    lines = base64.encodebytes(program * 3).replace(b"\n", b"\r\n")
    tampered = lines[:7800] + b"-" + lines[7801:]
    raw = b"".join([
        b"From: <ana@gto.gob.mx>\r\nTo: <luis@gto.gob.mx>\r\nSubject: anexos\r\nMIME-Version: 1.0\r\n",
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n',
        attachment("anexos.zip", base64.encodebytes(buffer.getvalue()).replace(b"\n", b"\r\n")),
        b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"0123456789abcdef.-\r\n" * 200,
        attachment("datos.bin", tampered),
        attachment("otros.bin", lines),
        b"--b--\r\n",
    ])  # fmt: skip
    judged = judge(raw)
    assert judged.problem == DataProblem.NONE and len(judged.base64_lines) >= 2
    view = _mime.parse(raw, crlf_clean=True, base64_lines=judged.base64_lines)
    assert view == _mime.parse(raw)
    assert "application/x-dosexec" in [part.true_type for part in view.parts]
