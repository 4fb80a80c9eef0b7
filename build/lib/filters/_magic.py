"""Name the true type of some bytes: libmagic (the only importer of python-magic) plus signatures.

Trusts nothing about the bytes; looks only at their first bytes (and at the few fixed offsets
where disk images keep their signature). Hands a MIME type string to filters._mime and
filters._archive, which record it in each Part.
"""

from __future__ import annotations

import magic

MAGIC_BYTES = 4096  # enough for libmagic's PE, ELF, script and media signatures
_MAGIC = magic.Magic(mime=True)

ISO = "application/x-iso9660-image"
# Signatures libmagic misses in short samples or reports as octet-stream (THREATS.md M11, Z6).
_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "application/x-dosexec"),  # DOS/PE; libmagic needs the PE header to name it
    (b"\x7fELF", "application/x-executable"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xce\xfa\xed\xfe", "application/x-mach-binary"),
    (b"MSCF\x00\x00\x00\x00", "application/vnd.ms-cab-compressed"),
    (b"vhdxfile", "application/x-vhdx"),
    (b"conectix", "application/x-vhd"),
    (b"koly", "application/x-apple-diskimage"),
)
# ISO 9660 / UDF volume descriptors sit at 32 KiB, beyond libmagic's sample (THREATS.md Z6).
_VOLUME_OFFSETS = (0x8001, 0x8801, 0x9001)
_VOLUME_IDS = (b"CD001", b"BEA01", b"NSR02", b"NSR03")

ARCHIVES = frozenset({"application/zip", "application/x-zip-compressed"})


def _signature(data: bytes) -> str:
    for prefix, kind in _PREFIXES:
        if data.startswith(prefix):
            return kind
    for offset in _VOLUME_OFFSETS:
        if data[offset : offset + 5] in _VOLUME_IDS:
            return ISO
    if len(data) >= 512 and data[-512:-504] == b"conectix":  # fixed VHD: footer only
        return "application/x-vhd"
    return ""


def true_type(data: bytes) -> str:
    """The MIME type of ``data`` as libmagic (or a known signature) sees it."""
    if not data:
        return "application/x-empty"
    known = _signature(data)
    if known:
        return known
    try:
        return str(_MAGIC.from_buffer(data[:MAGIC_BYTES]))
    except magic.MagicException:
        return "application/octet-stream"
