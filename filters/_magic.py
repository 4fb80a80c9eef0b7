"""Name the true type of some bytes: libmagic (the only importer of python-magic) plus signatures.

Trusts nothing about the bytes; looks only at their first bytes (and at the few fixed offsets
where disk images keep their signature). libmagic costs ~1.3 ms on 4 KB of text (its text
tests); ctypes releases the GIL during the call, so the files of one archive are typed side by
side: the caller's thread and one more per other core, each with its own libmagic handle (one
handle is not thread-safe). Each handle maps the magic database (~8 MB, shared with the page
cache but counted in the process's RSS once per handle as its pages are first read), so the
spare handles are loaded and used once at import, not by the first large message.
Hands a MIME type string to filters._mime and filters._archive, which record it in each Part.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
from collections.abc import Sequence

import magic

MAGIC_BYTES = 4096  # enough for libmagic's PE, ELF, script and media signatures
_MAGIC = magic.Magic(mime=True)
_LOCAL = threading.local()
_WORKERS = max(0, min(3, (os.cpu_count() or 1) - 1))  # besides the caller's thread
_POOL = concurrent.futures.ThreadPoolExecutor(max(1, _WORKERS), thread_name_prefix="compuerta-magic")
_SPARE: queue.SimpleQueue[magic.Magic] = queue.SimpleQueue()
for _ in range(_WORKERS):
    _spare = magic.Magic(mime=True)
    _spare.from_buffer(b"#!/bin/sh\n" + b"texto " * 600)  # reads the text tests' pages now
    _SPARE.put(_spare)

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


def _known(data: bytes) -> str:
    """The type when no libmagic call is needed, else ""."""
    return _signature(data) if data else "application/x-empty"


def _libmagic(data: bytes, handle: magic.Magic) -> str:
    try:
        return str(handle.from_buffer(data[:MAGIC_BYTES]))
    except magic.MagicException:
        return "application/octet-stream"


def _in_thread(data: bytes) -> str:
    handle = getattr(_LOCAL, "handle", None)
    if handle is None:  # each of the pool's threads takes a spare handle, once
        handle = _LOCAL.handle = _SPARE.get_nowait() if not _SPARE.empty() else magic.Magic(mime=True)
    return _libmagic(data, handle)


def true_type(data: bytes) -> str:
    """The MIME type of ``data`` as libmagic (or a known signature) sees it."""
    return _known(data) or _libmagic(data, _MAGIC)


def true_types(files: Sequence[bytes]) -> list[str]:
    """``true_type`` of each file; the libmagic calls run side by side in threads (the first
    in the caller's), so that the cores share what one thread would do alone."""
    kinds = [_known(data) for data in files]
    left = [index for index, kind in enumerate(kinds) if not kind]
    if len(left) < 2 or not _WORKERS:
        return [kind or _libmagic(data, _MAGIC) for kind, data in zip(kinds, files, strict=True)]
    others = [_POOL.submit(_in_thread, files[index]) for index in left[1:]]
    kinds[left[0]] = _libmagic(files[left[0]], _MAGIC)
    for index, future in zip(left[1:], others, strict=True):
        kinds[index] = future.result()
    return kinds
