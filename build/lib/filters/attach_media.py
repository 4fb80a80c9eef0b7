"""attach.media: music and video attachments are not allowed (002 "a) ... música y video").

Trusts the MimeView built by filters._mime; decides on the true type, the declared type or the
extension, whichever says audio or video (THREATS.md V1). Images are not media. Members of
archives count; media embedded in an office document (a video in a presentation) does not.
Hands its verdict to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from filters._names import extension
from gateway.model import Action, Context, Message, Part, Stage, Verdict

RULE = "attach.media"
NORM = "002 a)"
STAGES = (Stage.DATA,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.REJECT  # POLICY.md: reject, configurable to hold
    extensions: tuple[str, ...] = (
        "mp3", "wav", "wma", "aac", "m4a", "flac", "ogg", "oga", "opus", "mid", "midi", "aif",
        "aiff", "amr", "ra", "mka", "mp4", "m4v", "avi", "mov", "wmv", "mkv", "webm", "flv",
        "mpg", "mpeg", "3gp", "3g2", "ogv", "vob", "asf", "rm", "rmvb", "mts", "m2ts",
    )  # fmt: skip
    type_prefixes: tuple[str, ...] = ("audio/", "video/")
    # Media libmagic reports outside audio/* and video/*
    true_types: tuple[str, ...] = ("application/ogg", "application/vnd.rn-realmedia", "application/mxf")


def _is_media(part: Part, settings: Settings) -> str | None:
    for kind in (part.true_type, part.content_type):
        if kind.startswith(settings.type_prefixes) or kind in settings.true_types:
            return kind
    for name in part.filenames:
        if extension(name) in settings.extensions:
            return name
    return None


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    if msg.view is None:
        return None
    for part in msg.view.parts:
        if not part.is_attachment or part.container == "document":
            continue
        found = _is_media(part, ctx.settings)
        if found is not None:
            label = part.filenames[0] if part.filenames else part.path
            return Verdict(ctx.settings.action, RULE, f"{label} ({found})" if found != label else label)
    return None
