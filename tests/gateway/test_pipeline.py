"""gateway.pipeline: what it reads from the store before the checks run."""

from __future__ import annotations

from gateway.config import build
from gateway.model import Windows
from gateway.pipeline import NO_WINDOWS, windows


def test_default_profile_reads_every_window() -> None:
    assert windows(build({"organization": {"home_domains": ["gto.gob.mx"]}}).profile) == Windows()


def test_a_limit_of_zero_is_not_read() -> None:
    # 0 counts (consume records the message) but never limits: its window is never compared
    profile = build(
        {"profile": {"rate.messages": {"max_per_minute": 0}, "rate.recipients": {"max_per_day": 0}}}
    )
    assert windows(profile.profile) == Windows(messages=False, recipients=False, hits=True, suspended=True)


def test_disabled_rules_read_nothing() -> None:
    profile = build({"profile": {"rate.messages": {"enabled": False}, "rate.recipients": {"enabled": False},
                                 "rate.abuse": {"enabled": False}}})  # fmt: skip
    assert windows(profile.profile) == NO_WINDOWS


def test_abuse_without_a_hit_limit_still_reads_the_suspension() -> None:
    profile = build({"profile": {"rate.abuse": {"hits_per_hour": 0}}})
    assert windows(profile.profile) == Windows(messages=True, recipients=True, hits=False, suspended=True)
