"""Every Prometheus metric of compuerta, declared once (style rule 21).

Trusts nothing; holds only metric objects. Labels are low-cardinality: rule, action, stage,
result; never addresses or message ids. Scraped from /metrics on the web listener.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

BUILD = Info("compuerta_build", "Version of compuerta running")
MESSAGES = Counter("compuerta_messages_total", "Messages decided, by final action", ["action"])
RULE_HITS = Counter("compuerta_rule_hits_total", "Verdicts returned by rules", ["rule", "action"])
CHECK_ERRORS = Counter("compuerta_check_errors_total", "Checks that raised or timed out (bugs)", ["rule"])
SESSIONS = Counter("compuerta_smtp_sessions_total", "SMTP sessions opened", ["result"])
SESSIONS_ACTIVE = Gauge("compuerta_smtp_sessions_active", "SMTP sessions open now")
MILTER_SESSIONS = Counter("compuerta_milter_sessions_total", "Milter connections from the MTA", ["result"])
MILTER_ERRORS = Counter(
    "compuerta_milter_errors_total", "Milter connections ended by the peer's fault", ["kind"]
)
SMTP_ERRORS = Counter("compuerta_smtp_errors_total", "Protocol-level refusals and errors", ["kind"])
STAGE_SECONDS = Histogram(
    "compuerta_stage_seconds",
    "Time spent per pipeline stage",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPSTREAM = Counter("compuerta_upstream_deliveries_total", "Relay attempts upstream, by result", ["result"])
UPSTREAM_SECONDS = Histogram(
    "compuerta_upstream_seconds",
    "Time to hand one message upstream",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STORE_ERRORS = Counter("compuerta_store_errors_total", "Store operations that failed", ["op"])
HELD = Gauge("compuerta_held_messages", "Held messages by state", ["state"])
MODERATION = Counter(
    "compuerta_moderation_events_total",
    "Moderation of held messages: approve, reject, release, expire, remind, escalate",
    ["event"],
)
NOTICES = Counter("compuerta_notices_total", "Notices to senders and approvers, by result", ["result"])
