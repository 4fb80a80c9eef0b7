"""attach.dangerous: refuse attachments that are, or hide, executables (000 norm 18).

Trusts the MimeView built by filters._mime (names already decoded and normalised, true types
from libmagic, archive members listed, inspection problems recorded); hands its verdict to the
pipeline. A message the parser could not fully inspect is never passed: each kind of problem
has its own configurable action, none of which may be "accept" (gateway.config checks that).
"""

from __future__ import annotations

from dataclasses import dataclass

from filters._names import extension
from gateway.model import Action, Context, Message, Part, Problem, Stage, Verdict

RULE = "attach.dangerous"
NORM = "000 norma 18"
STAGES = (Stage.DATA,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.REJECT  # a runnable by name or true type, or a hidden name
    encrypted_action: Action = Action.REJECT  # THREATS.md Z3: contents cannot be inspected
    container_action: Action = Action.REJECT  # THREATS.md Z6: ISO/IMG/7z/RAR/... not unpacked
    limit_action: Action = Action.REJECT  # THREATS.md M15, Z2, Z4: depth, parts, bombs
    malformed_action: Action = Action.REJECT  # THREATS.md M2, M9, M12, M13, M16, M18: ambiguity
    # 000 norm 18 names the first eight; Microsoft's "Blocked attachments in Outlook" the rest
    extensions: tuple[str, ...] = (
        "exe", "com", "bat", "pif", "scr", "cmd", "cpl", "vbs",
        "vbe", "vb", "js", "jse", "wsf", "wsh", "ws", "wsc", "sct", "msi", "msp", "msc", "dll",
        "hta", "ps1", "psm1", "ps1xml", "lnk", "jar", "reg", "scf", "inf", "chm", "hlp",
        "application", "gadget", "appref-ms", "url", "xll", "sys", "drv", "ocx",
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
        "application/x-ms-shortcut",
        "text/x-msdos-batch",
        "application/x-bat",
        "text/x-shellscript",
        "application/x-shellscript",
        "text/x-perl",
        "text/x-python",
        "text/x-script.python",  # what libmagic 5.44 names Python (THREATS.md M11)
        "text/x-vbscript",
        "application/javascript",
        "application/java-archive",
        "application/x-java-applet",
    )
    # Containers compuerta does not unpack, by extension and by true type (THREATS.md Z6);
    # ZIP, tar, gzip, bzip2 and xz are unpacked and their members checked instead
    container_extensions: tuple[str, ...] = (
        "iso", "img", "udf", "vhd", "vhdx", "vmdk", "dmg", "7z", "rar", "cab", "arj", "lzh",
        "lha", "ace", "zst", "cpio", "hqx",
    )  # fmt: skip
    container_types: tuple[str, ...] = (
        "application/x-iso9660-image",
        "application/x-7z-compressed",
        "application/x-rar",
        "application/vnd.rar",
        "application/x-rar-compressed",
        "application/vnd.ms-cab-compressed",
        "application/x-vhd",
        "application/x-vhdx",
        "application/x-apple-diskimage",
        "application/x-arj",
        "application/x-lzh-compressed",
        "application/x-ace-compressed",
        "application/x-qemu-disk",
        "application/x-virtualbox-vdi",
        "application/x-virtualbox-vmdk",
        "application/zstd",
        "application/x-cpio",
        "application/mac-binhex40",
    )


# What the sender reads before the parser's own (English) detail.
_LABELS = {
    "encrypted": "archivo cifrado, no se puede revisar",
    "container": "contenedor que no se puede revisar",
    "limit": "excede los límites de revisión",
    "malformed": "estructura MIME ambigua o dañada",
    "name": "nombre de archivo con caracteres ocultos",
}


def _label(part: Part) -> str:
    return part.filenames[0] if part.filenames else part.path


def _part_hit(part: Part, settings: Settings) -> tuple[Action, str] | None:
    for name in part.filenames:
        # The last extension after normalisation decides: "informe.pdf.bat" (THREATS.md M5)
        if extension(name) in settings.extensions:
            return settings.action, name
    if part.true_type in settings.true_types:
        return settings.action, f"{_label(part)} ({part.true_type})"
    containers = settings.container_extensions
    if part.true_type in settings.container_types or any(extension(n) in containers for n in part.filenames):
        return settings.container_action, f"{_LABELS['container']}: {_label(part)}"
    return None


def _problem_action(problem: Problem, settings: Settings) -> Action:
    actions = {
        "encrypted": settings.encrypted_action,
        "container": settings.container_action,
        "limit": settings.limit_action,
        "name": settings.action,
    }
    # Any other kind, including ones added later, is an ambiguity: fail closed.
    return actions.get(problem.kind, settings.malformed_action)


def _hits(msg: Message, settings: Settings) -> list[tuple[Action, str]]:
    assert msg.view is not None
    hits = [hit for part in msg.view.parts if part.is_attachment and (hit := _part_hit(part, settings))]
    for problem in msg.view.problems:
        label = _LABELS.get(problem.kind, _LABELS["malformed"])
        hits.append((_problem_action(problem, settings), f"{label}: {problem.detail}"))
    return hits


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    if msg.view is None:
        return None
    hits = _hits(msg, ctx.settings)
    if not hits:
        return None
    strictest = max(action for action, _ in hits)
    detail = next(detail for action, detail in hits if action == strictest)
    return Verdict(strictest, RULE, detail)
