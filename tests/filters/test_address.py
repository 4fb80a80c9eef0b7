"""filters._address's fast paths against the definitions they replace (issue 8): ASCII domains
keyed without NFKC and IDNA, control characters found by one regex."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters import _address
from filters._address import AddressError, address_list, domain_key, mailboxes


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


def test_remembered_answers_are_the_parser_s() -> None:
    # filters._address keeps the last answers for short values: the same as parsing again
    for value in ("Ana <ana@gto.gob.mx>", "a@gto.gob.mx, Luis <luis@gto.gob.mx>", "equipo: a@gto.gob.mx;"):
        assert address_list(value) == address_list(value) == _address._address_list.__wrapped__(value)
    assert mailboxes("Ana <ana@gto.gob.mx>") == _address._mailboxes.__wrapped__("Ana <ana@gto.gob.mx>")
    for _ in range(2):  # a refusal is never remembered as an answer
        with pytest.raises(AddressError):
            mailboxes("alice@gto.gob.mx <mallory@evil.example>")
    long = ", ".join(f"p{n}@gto.gob.mx" for n in range(200))  # over 1000 characters: not kept
    before = _address._address_list.cache_info().currsize
    assert len(address_list(long)) == 200
    assert _address._address_list.cache_info().currsize == before
