"""attach.dangerous: refuse attachments that are, or hide, executables (000 norm 18).

Trusts the MimeView built by filters._mime (names already decoded and normalised, true types
from libmagic, archive members listed, inspection problems recorded); hands its verdict to the
pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import Action, Context, Message, Part, Stage, Verdict

RULE = "attach.dangerous"
NORM = "000 norma 18"
STAGES = (Stage.DATA,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.REJECT
    # 000 norm 18 names these; amavisd-new's banned list adds the rest of Windows' runnables
    extensions: tuple[str, ...] = (
        "exe", "com", "bat", "pif", "scr", "cmd", "cpl", "vbs",
        "vbe", "js", "jse", "wsf", "wsh", "msi", "dll", "hta", "ps1", "lnk", "jar",
    )  # fmt: skip
    # libmagic types of programs and scripts, whatever the name says (THREATS.md M11)
    true_types: tuple[str, ...] = (
        "application/x-dosexec",
        "application/x-msdownload",
        "application/vnd.microsoft.portable-executable",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-mach-binary",
        "application/x-msi",
        "text/x-msdos-batch",
        "application/x-bat",
        "text/x-shellscript",
        "application/x-shellscript",
        "text/x-perl",
        "text/x-python",
        "text/x-vbscript",
        "application/javascript",
    )


def _bad_name(part: Part, extensions: tuple[str, ...]) -> str | None:
    for name in part.filenames:
        # Any dotted segment counts, so "informe.pdf.bat" and "x.exe.txt" both show up.
        segments = name.split(".")[1:]
        if any(segment.strip() in extensions for segment in segments[-1:]):
            return name
    return None


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    if msg.view is None:
        return None
    for part in msg.view.parts:
        name = _bad_name(part, ctx.settings.extensions)
        if name is not None:
            return Verdict(ctx.settings.action, RULE, name)
        if part.is_attachment and part.true_type in ctx.settings.true_types:
            label = part.filenames[0] if part.filenames else part.path
            return Verdict(ctx.settings.action, RULE, f"{label} ({part.true_type})")
    return None
