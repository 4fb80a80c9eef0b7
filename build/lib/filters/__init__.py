"""The registry of policy rules: rule id -> the module that checks it. Explicit, nothing else.

A new rule is one module here, one line below, one reply in gateway/replies.py, one field in
gateway/config.Profile, one test module and one folder of messages under tests/messages/.
"""

from __future__ import annotations

from types import ModuleType

from filters import (
    attach_dangerous,
    attach_media,
    attach_uncompressed,
    freemail_list,
    freemail_mass,
    masivo,
    rcpt_max,
    sender_login,
    size_max,
)

REGISTRY: dict[str, ModuleType] = {
    size_max.RULE: size_max,
    rcpt_max.RULE: rcpt_max,
    attach_dangerous.RULE: attach_dangerous,
    attach_media.RULE: attach_media,
    attach_uncompressed.RULE: attach_uncompressed,
    freemail_mass.RULE: freemail_mass,
    masivo.RULE: masivo,
    freemail_list.RULE: freemail_list,
    sender_login.RULE: sender_login,
}
