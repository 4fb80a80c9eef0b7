"""filters._tree builds the very tree email's feedparser builds, for any input."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import random
from email.message import Message as EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from filters import _decoders, _tree
from gateway import data

FEEDPARSER = email.parser.BytesParser(policy=email.policy.compat32)


def shape(root: EmailMessage) -> list[object]:
    """Everything a walker can read from a tree, node by node."""
    out: list[object] = []
    stack = [root]
    while stack:
        node = stack.pop()
        payload = vars(node).get("_payload")
        out.append((node.items(), payload if isinstance(payload, str) else len(payload or []), node.preamble,
                    node.epilogue, [type(d).__name__ for d in node.defects], node.get_content_type()))  # fmt: skip
        if isinstance(payload, list):
            stack.extend(reversed(payload))
    return out


def same_tree(raw: bytes) -> None:
    assert shape(_tree.parse(raw, min_run=1)) == shape(FEEDPARSER.parsebytes(raw))


def b64_lines(seed: int, size: int, width: int) -> list[bytes]:
    data = base64.b64encode(random.Random(seed).randbytes(size))
    return [data[i : i + width] for i in range(0, len(data), width)]


# Lines of one width from an alphabet with the characters that matter to the parser
REGULAR = st.integers(1, 5).flatmap(
    lambda width: st.lists(
        st.binary(min_size=width, max_size=width).map(lambda b: bytes(b"QA=: -\r\n\t"[c % 9] for c in b)),
        min_size=2, max_size=8,
    ).map(b"\r\n".join)
)  # fmt: skip

LINES = st.one_of(
    REGULAR,
    st.sampled_from([
        b"", b"--b1", b"--b1--", b"--b1  ", b"--b2", b"--b2--", b"-x", b"From me", b" continued", b"\tmore",
        b"Content-Type: multipart/mixed; boundary=b2", b"Content-Type: message/rfc822",
        b"Content-Type: message/delivery-status", b"Content-Transfer-Encoding: base64",
        b"Subject: hola", b"texto con espacios", b"QUJD", b"QUJD\rREVG", b"QUJD\nREVG", b"QQ==",
    ]),
    st.builds(lambda seed, size, width: b"\r\n".join(b64_lines(seed, size, width)),
              st.integers(0, 99), st.integers(1, 400), st.sampled_from([4, 64, 76])),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES, max_size=40), st.sampled_from([b"\r\n", b"\n"]), st.booleans())
def test_any_line_soup(lines: list[bytes], newline: bytes, final: bool) -> None:
    head = b"Content-Type: multipart/mixed; boundary=b1\r\nMIME-Version: 1.0\r\n\r\n"
    same_tree(head + newline.join(lines) + (newline if final else b""))


@settings(max_examples=40, deadline=None)
@given(st.recursive(
    st.builds(lambda seed, size, width, blank: (seed, size, width, blank),
              st.integers(0, 99), st.integers(0, 3000), st.sampled_from([60, 76]), st.booleans()),
    lambda children: st.lists(children, min_size=1, max_size=4), max_leaves=8,
))  # fmt: skip
def test_nested_multiparts_with_base64_leaves(tree: object) -> None:
    same_tree(b"MIME-Version: 1.0\r\n" + render(tree, 0))


def render(node: object, depth: int) -> bytes:
    if isinstance(node, tuple):
        seed, size, width, blank = node
        body = b"\r\n".join(b64_lines(seed, size, width))
        return (b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body
                + (b"\r\n\r\n" if blank else b"\r\n"))  # fmt: skip
    assert isinstance(node, list)
    boundary = f"b{depth}".encode()
    parts = [b"--" + boundary + b"\r\n" + render(child, depth + 1) for child in node]
    close = b"--" + boundary + b"--\r\n" if depth % 3 != 2 else b""  # sometimes missing
    return (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\npreamble\r\n'
            + b"".join(parts) + close + b"epilogue\r\n")  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    REGULAR,
    st.sampled_from([b"message/rfc822", b"message/delivery-status", b"text/plain", b"multipart/mixed"]),
)
def test_regular_block_where_headers_are_read(block: bytes, kind: bytes) -> None:
    # after the blank line of a message/* part the parser reads headers again
    head = b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: " + kind
    same_tree(head + b"; boundary=b2\r\n\r\n" + block + b"\r\n\r\nQUJD\r\n--b1--\r\n")


def test_real_attachment_is_swapped_and_restored() -> None:
    body = b"\r\n".join(b64_lines(7, 60_000, 76))
    raw = (b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\nhola\r\n"
           b"--z\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body
           + b"\r\n--z--\r\n")  # fmt: skip
    assert _tree._runs(raw, _tree.MIN_RUN)  # the fast path is taken
    same_tree(raw)
    assert shape(_tree.parse(raw)) == shape(FEEDPARSER.parsebytes(raw))


def test_split_hands_a_whole_run_over_as_it_was_received() -> None:
    body = b"\r\n".join(b64_lines(8, 30_000, 76))
    raw = (b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\nhola\r\n"
           b"--z\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body
           + b"\r\n--z--\r\n")  # fmt: skip
    root, bodies = _tree.split(raw)
    children = root.get_payload()
    assert isinstance(children, list)
    text, pdf = children
    assert isinstance(text, EmailMessage) and isinstance(pdf, EmailMessage)
    assert bodies.of(text) is None and text.get_payload() == "hola"
    run = bodies.of(pdf)
    assert run is not None and bytes(run) == body


@settings(max_examples=300, deadline=None)
@given(
    st.lists(LINES, max_size=40), st.sampled_from([b"", b"=", b"==", b"===", b"A", b"QQ==QUJD", b"=\r\nQUJD"])
)
def test_a_run_marked_canonical_is_canonical_to_the_decoders(lines: list[bytes], tail: bytes) -> None:
    # the decoders skip their own check for such runs: "TQ==" + more must never be marked (M13)
    head = b"Content-Type: multipart/mixed; boundary=b1\r\nMIME-Version: 1.0\r\n\r\n"
    raw = head + b"\r\n".join(lines) + tail + b"\r\n--b1--\r\n"
    _, bodies = _tree.split(raw, min_run=1)
    for index, canonical in enumerate(bodies.canonical):
        assert canonical == _decoders._canonical(bodies.view(index))


def test_a_token_of_another_prefix_stays_text() -> None:
    # a message may carry what looks like a token: only the split's own prefix is replaced
    body = b"\r\n".join(b64_lines(9, 20_000, 76))
    raw = (b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\n"
           b"CPTRUN0123456789abcdef00000000\r\n--z\r\nContent-Type: application/pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"\r\n--z--\r\nCPTRUN0123456789abcdef00000000\r\n")  # fmt: skip
    same_tree(raw)
    assert shape(_tree.parse(raw)) == shape(FEEDPARSER.parsebytes(raw))


def plain_runs(raw: bytes, min_run: int) -> list[tuple[int, int, bool]]:
    """_runs as it was before it stepped over runs: a search for the next dash line each time."""
    runs: list[tuple[int, int, bool]] = []
    position = 0
    while (blank := raw.find(b"\r\n\r\n", position)) >= 0:
        start = blank + 4
        dash = raw.find(b"\r\n-", start)
        end = len(raw) if dash < 0 else dash
        while raw.endswith(b"\r\n", start, end):
            end -= 2
        position = max(end, start) if dash < 0 else dash + 2
        if end - start >= min_run and (lines := _tree._regular(raw, start, end)) >= 0:
            runs.append((start, end, _tree._canonical(raw, start, end, lines)))
    return runs


@settings(max_examples=400, deadline=None)
@given(
    st.lists(LINES, max_size=40),
    st.sampled_from([b"\r\n", b"\n"]),
    st.booleans(),
    st.sampled_from([1, 8, 200]),
)
def test_stepping_over_runs_finds_what_the_search_finds(
    lines: list[bytes], newline: bytes, final: bool, min_run: int
) -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
        + newline.join(lines)
        + (newline if final else b"")
    )
    assert _tree._runs(raw, min_run) == plain_runs(raw, min_run)
    assert _tree._runs(raw, min_run, proven(raw)) == plain_runs(raw, min_run)


def proven(raw: bytes) -> dict[int, tuple[int, int]]:
    """The blocks gateway.data proves base64 as DATA is read (judge does so from 64 KB up)."""
    return {start: (end, stride) for start, end, stride, base64 in data._blocks(raw) if base64}


@settings(max_examples=60, deadline=None)
@given(st.recursive(
    st.builds(lambda seed, size, width, blank: (seed, size, width, blank),
              st.integers(0, 99), st.integers(0, 30000), st.sampled_from([4, 60, 76]), st.booleans()),
    lambda children: st.lists(children, min_size=1, max_size=4), max_leaves=8,
))  # fmt: skip
def test_stepping_over_runs_in_nested_multiparts(tree: object) -> None:
    raw = b"MIME-Version: 1.0\r\n" + render(tree, 0)
    assert _tree._runs(raw, 1) == plain_runs(raw, 1)
    assert _tree._runs(raw, _tree.MIN_RUN) == plain_runs(raw, _tree.MIN_RUN)
    assert _tree._runs(raw, 1, proven(raw)) == plain_runs(raw, 1)
