"""Unpack gzip, bzip2 and xz streams and tar archives, bounded by the message's expansion budget.

Trusts nothing: a compressed stream is decompressed with a hard cap on output (a 10 KB gzip can
claim gigabytes), and a tar archive is read only from bytes already in memory. Hands members and
issues to filters._mime in the same shape as filters._archive does for ZIP, so every rule that
applies to a ZIP member applies here too (THREATS.md Z1, Z2, Z4).
"""

from __future__ import annotations

import bz2
import io
import lzma
import tarfile
import zlib

from filters._archive import KEEP_BYTES, LIMIT, MALFORMED, Budget, Listing, Member, unpackable

STREAMS = {
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/x-bzip2": "bzip2",
    "application/x-xz": "xz",
}
TAR = "application/x-tar"
_SUFFIXES = {"gzip": (".gz", ".tgz"), "bzip2": (".bz2", ".tbz"), "xz": (".xz", ".txz")}


def _decompressor(kind: str) -> zlib._Decompress | bz2.BZ2Decompressor | lzma.LZMADecompressor:
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)  # RFC 1952 framing
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor()


def _inflate(data: bytes, kind: str, cap: int) -> tuple[bytes, str]:
    decompressor = _decompressor(kind)
    try:
        out = decompressor.decompress(data, cap + 1)
    except (zlib.error, OSError, lzma.LZMAError, EOFError) as error:
        return b"", f"undecodable {kind} stream: {error}"
    if len(out) > cap:
        return b"", "limit"
    if not decompressor.eof:
        return b"", f"truncated {kind} stream"
    if decompressor.unused_data.strip(b"\x00"):
        # A second stream after the first: tools disagree on whether to read it (Z5's cousin)
        return b"", f"data after the {kind} stream"
    return out, ""


def decompress(data: bytes, kind: str, name: str, budget: Budget) -> Listing:
    """The one file inside a gzip/bzip2/xz stream, as a one-member listing."""
    listing = Listing()
    cap = min(budget.max_member, budget.expanded)
    declared = int.from_bytes(data[-4:], "little") if STREAMS[kind] == "gzip" else 0  # RFC 1952 ISIZE
    if declared > budget.ratio_floor and declared > budget.max_ratio * len(data):
        listing.issues.append((LIMIT, f"{name!r} declares {declared} bytes from {len(data)}"))
        return listing
    out, problem = _inflate(data, STREAMS[kind], cap)
    if problem == "limit":
        listing.issues.append((LIMIT, f"{name!r} unpacks past {cap} bytes (compression bomb)"))
    elif problem:
        listing.issues.append((MALFORMED, problem))
    elif len(out) > budget.ratio_floor and len(out) > budget.max_ratio * max(len(data), 1):
        listing.issues.append((LIMIT, f"{name!r} expands {len(out) // max(len(data), 1)}:1"))
    else:
        budget.expanded -= len(out)
        inner = name
        for suffix in _SUFFIXES[STREAMS[kind]]:
            if name.endswith(suffix):
                inner = name[: -len(suffix)] + (".tar" if suffix.startswith(".t") else "")
        listing.members.append(Member(inner, len(out), out))
    return listing


def _tar_member(archive: tarfile.TarFile, entry: tarfile.TarInfo, budget: Budget, listing: Listing) -> None:
    budget.members -= 1
    if budget.members < 0:
        listing.issues.append((LIMIT, "too many archive members"))
        return
    handle = archive.extractfile(entry) if entry.isfile() else None
    data = handle.read() if handle is not None else b""  # bounded: the tar is already in memory
    kept = data if unpackable(data, entry.name) else data[:KEEP_BYTES]
    listing.members.append(Member(entry.name, len(data), kept))


def inspect_tar(data: bytes, budget: Budget) -> Listing:
    """List and read a tar archive held in memory; never raises."""
    listing = Listing()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for entry in archive:
                _tar_member(archive, entry, budget, listing)
                if any(kind == LIMIT for kind, _ in listing.issues):
                    break
    except Exception as error:  # noqa: BLE001 -- hostile input reaches odd corners of tarfile: fail closed
        listing.issues.append((MALFORMED, f"unreadable tar archive: {type(error).__name__}: {error}"[:200]))
    return listing
