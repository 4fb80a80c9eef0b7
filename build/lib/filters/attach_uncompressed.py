"""attach.uncompressed: tag an uncompressed attachment over 1 MB (001 VI, "utilizar una
herramienta de compresión").

Trusts the MimeView built by filters._mime, which samples how well each large attachment
compresses; a file whose sample shrinks is uncompressed whatever its name. Only attachments of
the message itself count (archive members are compressed by definition). Hands its verdict
(a tag with advice by default) to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import Action, Context, Message, Part, Stage, Verdict

RULE = "attach.uncompressed"
NORM = "001 VI"
STAGES = (Stage.DATA,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.TAG
    # 001 VI: "archivos ... mayor a 1 MB" (read as 1 MiB, what mail clients show)
    max_bytes: int = 1024 * 1024
    # zlib level 1 on a 64 KiB sample: below this ratio the file would shrink when compressed
    max_sample_ratio: float = 0.9
    # Formats that are compressed inside even when a sample of their headers shrinks
    compressed_types: tuple[str, ...] = (
        "application/zip",
        "application/gzip",
        "application/x-7z-compressed",
        "application/x-rar",
        "application/x-xz",
        "application/x-bzip2",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
    )


def _uncompressed(part: Part, settings: Settings) -> bool:
    if not part.is_attachment or part.in_archive or part.size <= settings.max_bytes:
        return False
    if part.true_type in settings.compressed_types or part.true_type.startswith(("audio/", "video/")):
        return False
    return part.sample_ratio < settings.max_sample_ratio


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    if msg.view is None:
        return None
    for part in msg.view.parts:
        if _uncompressed(part, ctx.settings):
            label = part.filenames[0] if part.filenames else part.path
            return Verdict(ctx.settings.action, RULE, f"{label}, {part.size // 1024} KB")
    return None
