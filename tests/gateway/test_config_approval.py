"""[approval] is validated like the rest: the error names the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, build


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"approval": {"roles": ["administrator"]}}, "approval.roles"),
        ({"approval": {"required": ["prensa"]}}, "approval.required"),
        ({"approval": {"expiry_outcome": "send"}}, "approval.expiry_outcome"),
        ({"approval": {"extra_holidays": ["2026-13-01"]}}, "approval"),
        ({"approval": {"timezone": "Mars/Olympus"}}, "approval"),
        ({"profile": {"masivo": {"approvers": ["prensa"]}}}, "profile.masivo.approvers"),
        ({"approval": {"deadline_days": -1}}, "approval.deadline_days"),
    ],
)
def test_bad_approval_settings_name_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        build(data)
    assert error.value.key == key


def test_defaults_follow_anexo_a() -> None:
    config = build({"approval": {"extra_holidays": ["2026-12-24"]}})
    assert config.approval.deadline_days == 2 and config.approval.required == ("dgtit",)
    assert config.approval.expiry_outcome == "reject"
