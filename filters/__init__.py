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
    content_chain,
    freemail_list,
    freemail_mass,
    masivo,
    rate_abuse,
    rate_messages,
    rate_recipients,
    rcpt_max,
    rcpt_visible,
    sender_account,
    sender_domain,
    sender_external,
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
    sender_domain.RULE: sender_domain,
    sender_account.RULE: sender_account,
    sender_external.RULE: sender_external,
    rcpt_visible.RULE: rcpt_visible,
    rate_messages.RULE: rate_messages,
    rate_recipients.RULE: rate_recipients,
    rate_abuse.RULE: rate_abuse,
    content_chain.RULE: content_chain,
}
