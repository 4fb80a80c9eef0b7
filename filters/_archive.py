"""List and unpack one ZIP archive, safely: layout checked first, expansion bounded, nothing trusted.

Trusts nothing in the archive: declared sizes, offsets and names may all lie. Before Python's
zipfile reads a byte of data, the layout is checked so that entries neither overlap (zip bombs,
CVE-2024-0450, unfixed in this Python 3.11.7) nor leave room for hidden data (concatenated
archives, data before the first local header). Members are streamed with caps on size, ratio and
the message's total expansion budget. Hands members and issues to filters._mime, which recurses.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass, field

ENCRYPTED, LIMIT, MALFORMED = "encrypted", "limit", "malformed"
_LOCAL = struct.Struct("<4s22xHH")  # signature ... file name length, extra field length
_EOCD = b"PK\x05\x06"
_CHUNK = 1 << 20
KEEP_BYTES = 65536  # enough for libmagic and for an ISO signature at 32 KiB
_DESCRIPTOR_SIZES = (12, 16, 20, 24)  # data descriptor, with or without signature, zip64 or not


@dataclass
class Budget:
    """What is left for the whole message: expanded bytes and archive members (THREATS.md Z4)."""

    expanded: int
    members: int
    max_member: int
    max_ratio: int
    ratio_floor: int = 1 << 20  # small members may compress well; ratio counts above 1 MiB


@dataclass(frozen=True)
class Member:
    name: str
    size: int  # bytes actually decompressed
    data: bytes  # the whole member if it may be an archive, else its first KEEP_BYTES
    examined: bool = True  # False when encrypted: only the name could be checked


@dataclass
class Listing:
    members: list[Member] = field(default_factory=list)
    issues: list[tuple[str, str]] = field(default_factory=list)
    document: bool = False  # OOXML or ODF: a document, not a user's archive


MESSAGE_SUFFIXES = (".eml", ".mht", ".mhtml")  # files mail clients open as messages


def unpackable(data: bytes, name: str = "") -> bool:
    """Whether ``data`` starts like an archive or compressed stream compuerta unpacks, or is
    named like a message it parses: such members are kept whole."""
    if name.lower().rstrip(". ").endswith(MESSAGE_SUFFIXES):
        return True
    return data.startswith((b"PK", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")) or data[257:262] == b"ustar"


def looks_like_zip(data: bytes) -> bool:
    """A local header at the start, or an end record that ends the file exactly (Z5: 7-Zip and
    Windows open a ZIP with anything in front of it)."""
    if data.startswith(b"PK\x03\x04"):
        return True
    end = data.rfind(_EOCD, -65557)
    return (
        end >= 0 and end + 22 <= len(data) and end + 22 + data[end + 20] + 256 * data[end + 21] == len(data)
    )


def _eocd_checks(data: bytes, budget: Budget) -> list[tuple[str, str]]:
    end = data.rfind(_EOCD)
    if end < 0 or end + 22 > len(data):
        return [(MALFORMED, "no end of central directory")]
    entries, comment = struct.unpack_from("<10xH4x4xH", data, end)
    issues = []
    if end + 22 + comment != len(data):
        issues.append((MALFORMED, "data after the end of the archive"))  # THREATS.md Z5
    if entries > budget.members:
        issues.append((LIMIT, f"archive declares {entries} members"))
    return issues


def _entry_end(data: bytes, info: zipfile.ZipInfo) -> int:
    signature, name_length, extra_length = _LOCAL.unpack_from(data, info.header_offset)
    if signature != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for {info.filename!r}")
    return int(info.header_offset + _LOCAL.size + name_length + extra_length + info.compress_size)


def _layout_issues(data: bytes, archive: zipfile.ZipFile) -> list[tuple[str, str]]:
    """Entries must tile the file from byte 0 to the central directory (Z4, Z5)."""
    expected, descriptor = 0, False
    ranges = sorted(archive.infolist(), key=lambda info: info.header_offset)
    stops = [(info.header_offset, info) for info in ranges] + [(archive.start_dir, None)]
    for offset, info in stops:
        if offset < expected:
            return [(LIMIT, "overlapping archive entries (zip bomb, CVE-2024-0450)")]
        gap = offset - expected
        if gap and not (descriptor and gap in _DESCRIPTOR_SIZES):
            where = "before the first entry" if expected == 0 else "between entries"
            return [(MALFORMED, f"{gap} hidden bytes {where} (concatenated archive)")]
        if info is not None:
            expected, descriptor = _entry_end(data, info), bool(info.flag_bits & 0x08)
    return []


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget, listing: Listing) -> None:
    cap = min(budget.max_member, budget.expanded)
    kept, size, whole = bytearray(), 0, False
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                listing.issues.append((LIMIT, f"{info.filename!r} unpacks past {cap} bytes (zip bomb)"))
                return
            whole = whole or (
                size == len(chunk) and unpackable(chunk, info.filename)
            )  # archives are kept to recurse
            if whole or len(kept) < KEEP_BYTES:
                kept += chunk
    budget.expanded -= size
    if size > budget.ratio_floor and size > budget.max_ratio * max(info.compress_size, 1):
        listing.issues.append((LIMIT, f"{info.filename!r} expands {size // max(info.compress_size, 1)}:1"))
    listing.members.append(Member(info.filename, size, bytes(kept if whole else kept[:KEEP_BYTES])))


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget, listing: Listing) -> None:
    budget.members -= 1
    if budget.members < 0:
        listing.issues.append((LIMIT, "too many archive members"))
        return
    declared = info.file_size
    if declared > budget.ratio_floor and declared > budget.max_ratio * max(info.compress_size, 1):
        listing.issues.append(
            (LIMIT, f"{info.filename!r} declares {declared} bytes from {info.compress_size}")
        )
        return
    if info.flag_bits & 0x01 or info.compress_type == 99:  # ZipCrypto or WinZip AES
        # THREATS.md Z3: names are not encrypted, so they are still checked
        listing.issues.append((ENCRYPTED, f"encrypted member {info.filename!r}"))
        listing.members.append(Member(info.filename, info.file_size, b"", examined=False))
        return
    _read(archive, info, budget, listing)


def _is_document(archive: zipfile.ZipFile) -> bool:
    names = archive.namelist()
    if "[Content_Types].xml" in names:  # ECMA-376 Part 2 (OOXML)
        return True
    if names[:1] == ["mimetype"]:  # ODF 1.2 Part 3 §3.3: first, stored, no extra field
        return archive.open("mimetype").read(64).startswith(b"application/vnd.oasis.opendocument")
    return False


def inspect(data: bytes, budget: Budget) -> Listing:
    """List and unpack the archive in ``data``; never raises."""
    listing = Listing(issues=_eocd_checks(data, budget))
    if listing.issues:
        return listing
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            listing.issues.extend(_layout_issues(data, archive))
            if listing.issues:
                return listing
            listing.document = _is_document(archive)
            for info in archive.infolist():
                if not info.is_dir():
                    _member(archive, info, budget, listing)
                if any(kind == LIMIT for kind, _ in listing.issues):
                    break
    except Exception as error:  # noqa: BLE001 -- hostile input reaches odd corners of zipfile: fail closed
        listing.issues.append((MALFORMED, f"unreadable archive: {type(error).__name__}: {error}"[:200]))
    return listing
