"""Every Prometheus metric of compuerta, declared once (style rule 21).

Trusts nothing; holds only metric objects. Names follow Prometheus conventions: the
``compuerta_`` prefix, ``_total`` on counters, ``_seconds`` on durations. Labels are
low-cardinality: rule, action, stage, result, state, kind, op; never addresses, domains of
senders or message ids. Scraped from /metrics on the web listener (gateway.health, gateway.exposition);
gauges that mirror the store are refreshed on scrape by gateway.gauges. With several workers,
each gauge's ``multiprocess_mode`` says how the workers' values combine. Every area adds its metric objects
here, not in its own module, so that this file is the whole list (deploy/grafana and
deploy/prometheus read it).
"""

from __future__ import annotations

import platform

from prometheus_client import Counter, Gauge, Histogram

from gateway import __version__

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_NETWORK = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Approvals are counted in minutes to business days (POLICY.md: the DGTIT answers within two).
_HUMAN = (60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 4 * 86400, 7 * 86400)

# -- build ------------------------------------------------------------------------------------
# A gauge rather than an Info: prometheus_client's multiprocess mode (workers) has no Info.
BUILD = Gauge("compuerta_build_info", "Version of compuerta running", ["version", "python"],
              multiprocess_mode="livemax")  # fmt: skip
BUILD_LABELS = {"version": __version__, "python": platform.python_version()}
BUILD.labels(**BUILD_LABELS).set(1)  # again in each worker (gateway.server): values are per process

# -- decisions --------------------------------------------------------------------------------
MESSAGES = Counter("compuerta_messages_total", "Messages decided, by final action", ["action"])
RULE_HITS = Counter("compuerta_rule_hits_total", "Verdicts returned by rules", ["rule", "action"])
CHECK_ERRORS = Counter("compuerta_check_errors_total", "Checks that raised or timed out (bugs)", ["rule"])
STAGE_SECONDS = Histogram(
    "compuerta_stage_seconds", "Time spent per pipeline stage", ["stage"], buckets=_FAST
)
# Large messages wait here for a parser thread and room in the parse budget (gateway.parsing)
PARSE_WAIT_SECONDS = Histogram(
    "compuerta_parse_wait_seconds", "Time a large message waited for its turn to be parsed", buckets=_FAST
)

# -- SMTP sessions ----------------------------------------------------------------------------
SESSIONS = Counter("compuerta_smtp_sessions_total", "SMTP sessions opened", ["result"])
SESSIONS_ACTIVE = Gauge("compuerta_smtp_sessions_active", "SMTP sessions open now",
                        multiprocess_mode="livesum")  # fmt: skip
MILTER_SESSIONS = Counter("compuerta_milter_sessions_total", "Milter connections from the MTA", ["result"])
MILTER_ERRORS = Counter(
    "compuerta_milter_errors_total", "Milter connections ended by the peer's fault", ["kind"]
)
SMTP_ERRORS = Counter("compuerta_smtp_errors_total", "Protocol-level refusals and errors", ["kind"])

# -- upstream (the MTA's re-injection listener) -----------------------------------------------
UPSTREAM = Counter("compuerta_upstream_deliveries_total", "Relay attempts upstream, by result", ["result"])
UPSTREAM_SECONDS = Histogram(
    "compuerta_upstream_seconds", "Time to hand one message upstream", buckets=_NETWORK
)
UPSTREAM_UP = Gauge("compuerta_upstream_up", "1 if upstream answered EHLO at the last scrape or /readyz",
                    multiprocess_mode="livemostrecent")  # fmt: skip

# -- store ------------------------------------------------------------------------------------
STORE_ERRORS = Counter("compuerta_store_errors_total", "Store operations that failed", ["op"])
HELD = Gauge("compuerta_held_messages", "Held messages by state (refreshed on scrape)", ["state"],
             multiprocess_mode="livemostrecent")  # fmt: skip
HELD_OLDEST = Gauge(
    "compuerta_held_oldest_age_seconds",
    "Age of the oldest message still held (refreshed on scrape)",
    multiprocess_mode="livemostrecent",
)

# -- approvals (masivos) ----------------------------------------------------------------------
# decision: approved, rejected, expired
APPROVAL_SECONDS = Histogram(
    "compuerta_approval_seconds", "Time from hold to the final decision", ["decision"], buckets=_HUMAN
)
SLA_BREACHES = Counter(
    "compuerta_sla_breaches_total", "Held messages that passed their business-day deadline"
)
# event: approve, reject, release, expire, reminder, escalation (gateway.moderation)
MODERATION = Counter(
    "compuerta_moderation_events_total",
    "Moderation of held messages: approve, reject, release, expire, remind, escalate",
    ["event"],
)
NOTICES = Counter("compuerta_notices_total", "Notices to senders and approvers, by result", ["result"])

# -- fan-out of released masivos ---------------------------------------------------------------
# result: accepted, deferred (4xx, retried), failed (5xx)
FANOUT_ATTEMPTS = Counter("compuerta_fanout_attempts_total", "Delivery job attempts, by result", ["result"])
FANOUT_RECIPIENTS = Counter(
    "compuerta_fanout_recipients_total", "Recipients of released masivos, by result", ["result"]
)
FANOUT_JOBS = Gauge("compuerta_fanout_jobs", "Delivery jobs by state (refreshed on scrape)", ["state"],
                    multiprocess_mode="livemostrecent")  # fmt: skip
FANOUT_SECONDS = Histogram(
    "compuerta_fanout_seconds", "Time from release to the last delivery job done", buckets=_HUMAN
)

# -- rate limits and suspensions (rate.messages, rate.recipients, rate.abuse) --------------------
RATE_LIMIT_HITS = Counter("compuerta_rate_limit_hits_total", "Messages over a rate limit", ["rule"])
SUSPENSIONS = Counter("compuerta_suspensions_total", "Senders suspended automatically", ["rule"])
SUSPENDED = Gauge("compuerta_suspended_senders", "Senders suspended now (refreshed on scrape)",
                  multiprocess_mode="livemostrecent")  # fmt: skip

# -- operations -------------------------------------------------------------------------------
# result: ok, refused (bad file: the running configuration is kept)
CONFIG_RELOADS = Counter("compuerta_config_reloads_total", "Configuration reloads (SIGHUP)", ["result"])
# livemin: with workers, the oldest configuration any of them still runs
CONFIG_LOADED = Gauge(
    "compuerta_config_loaded_timestamp_seconds",
    "When the running configuration was loaded",
    multiprocess_mode="livemin",
)
CONFIG_LOADED.set_to_current_time()
