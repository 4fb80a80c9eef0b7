"""filters._address's fast paths against the definitions they replace (issue 8): ASCII domains
keyed without NFKC and IDNA, control characters found by one regex."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from filters._address import AddressError, domain_key, mailboxes


def definition(domain: str) -> str:
    domain = unicodedata.normalize("NFKC", domain).casefold().rstrip(".")
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


@settings(max_examples=500, deadline=None)
@given(
    st.text(st.characters(codec="ascii"), max_size=80)
    | st.from_regex(r"[A-Za-z0-9.-]{0,70}\.?", fullmatch=True)
)
def test_ascii_domains_key_as_defined(domain: str) -> None:
    assert domain_key(domain) == definition(domain)


def test_domain_key_examples() -> None:
    assert domain_key("GTO.gob.MX.") == "gto.gob.mx"
    assert domain_key("ＧＴＯ.gob.mx") == "gto.gob.mx"  # F3: fullwidth look-alike
    assert domain_key("dirección.gob.mx") == "xn--direccin-13a.gob.mx"


def refused_as_control(value: str) -> bool:
    try:
        mailboxes(value)
    except AddressError as error:
        return "control character" in str(error)
    return False


def test_control_characters_are_the_c0_set_but_tab_and_del() -> None:
    for code in range(0x3000):
        expected = code < 0x20 and code != 0x09 or code == 0x7F
        assert refused_as_control(f"Ana <ana@gto.gob.mx>{chr(code)}") == expected, hex(code)
