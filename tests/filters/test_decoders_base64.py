"""The fast path of filters._decoders.base64 gives what the lenient path gives, issues included."""

from __future__ import annotations

import base64 as stdlib_base64

from hypothesis import given, settings
from hypothesis import strategies as st

from filters._decoders import base64, lenient_base64

NOISE = st.sampled_from([b"", b"\r\n", b" ", b"\t", b"=", b"==", b"!", b"\x00", b"-", b"A", b"QQ=="])


@settings(max_examples=400, deadline=None)
@given(
    st.binary(max_size=300), st.integers(1, 80), st.lists(st.tuples(st.integers(0, 500), NOISE), max_size=4)
)
def test_fast_path_agrees_with_the_lenient_path(
    payload: bytes, width: int, edits: list[tuple[int, bytes]]
) -> None:
    encoded = stdlib_base64.b64encode(payload)
    data = b"\r\n".join(encoded[i : i + width] for i in range(0, len(encoded), width))
    for position, noise in edits:
        data = data[:position] + noise + data[position:]
    fast: list[str] = []
    slow: list[str] = []
    assert base64(memoryview(data), fast) == lenient_base64(data, slow)
    assert fast == slow


def test_clean_attachment_decodes_without_issues() -> None:
    payload = bytes(range(256)) * 5000
    encoded = stdlib_base64.encodebytes(payload).replace(b"\n", b"\r\n")
    issues: list[str] = []
    assert base64(memoryview(encoded), issues) == payload and issues == []
