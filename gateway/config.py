"""Read the configuration once: one TOML file (or the embedded default) into frozen dataclasses.

Trusts nothing in the file: every key is checked against the dataclass it fills, and an error
names the key, the value and what is allowed. The only module that reads files or the
environment for settings. Hands a Config to the wiring in gateway.server.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
from gateway import deadlines
from gateway.model import Action


class ConfigError(Exception):
    """A bad configuration: names the key, the value and what is allowed."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        super().__init__(f"{key} = {value!r}: {allowed}")
        self.key = key
        self.value = value
        self.allowed = allowed


@dataclass(frozen=True)
class Profile:
    """Per-domain policy: one field per rule, holding that filter's Settings."""

    order: tuple[str, ...] = (
        "sender.login", "rate.abuse", "sender.account", "rate.messages", "size.max", "rcpt.max",
        "sender.external", "sender.domain", "attach.dangerous", "attach.media", "attach.uncompressed",
        "freemail.mass", "masivo", "freemail.list", "rate.recipients", "content.chain", "rcpt.visible",
    )  # fmt: skip
    check_timeout: float = 10.0  # seconds the checks of one stage may take together (style rule 12)
    size_max: size_max.Settings = field(default_factory=size_max.Settings)
    rcpt_max: rcpt_max.Settings = field(default_factory=rcpt_max.Settings)
    attach_dangerous: attach_dangerous.Settings = field(default_factory=attach_dangerous.Settings)
    attach_media: attach_media.Settings = field(default_factory=attach_media.Settings)
    attach_uncompressed: attach_uncompressed.Settings = field(default_factory=attach_uncompressed.Settings)
    freemail_mass: freemail_mass.Settings = field(default_factory=freemail_mass.Settings)
    masivo: masivo.Settings = field(default_factory=masivo.Settings)
    freemail_list: freemail_list.Settings = field(default_factory=freemail_list.Settings)
    sender_login: sender_login.Settings = field(default_factory=sender_login.Settings)
    sender_domain: sender_domain.Settings = field(default_factory=sender_domain.Settings)
    sender_account: sender_account.Settings = field(default_factory=sender_account.Settings)
    sender_external: sender_external.Settings = field(default_factory=sender_external.Settings)
    rcpt_visible: rcpt_visible.Settings = field(default_factory=rcpt_visible.Settings)
    rate_messages: rate_messages.Settings = field(default_factory=rate_messages.Settings)
    rate_recipients: rate_recipients.Settings = field(default_factory=rate_recipients.Settings)
    rate_abuse: rate_abuse.Settings = field(default_factory=rate_abuse.Settings)
    content_chain: content_chain.Settings = field(default_factory=content_chain.Settings)

    def settings(self, rule: str) -> object:
        return getattr(self, rule.replace(".", "_"))


@dataclass(frozen=True)
class SMTPSettings:
    listen: str = "127.0.0.1:10024"
    trusted_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    hostname: str = "compuerta.localhost"
    timeout: float = 300.0  # RFC 5321 §4.5.3.2.7: 5 minutes for DATA termination
    max_sessions: int = 200
    shutdown_grace: float = 30.0
    workers: int = 1  # processes sharing the SMTP port (gateway.workers); about one per core


@dataclass(frozen=True)
class UpstreamSettings:
    address: str = "127.0.0.1:10025"
    pool_size: int = 16
    timeout: float = 60.0
    helo: str = "compuerta.localhost"


@dataclass(frozen=True)
class WebSettings:
    listen: str = "127.0.0.1:8024"
    base_url: str = "http://127.0.0.1:8024"
    metrics_networks: tuple[str, ...] = ()  # who may scrape /metrics; empty: whoever reaches listen
    ready_timeout: float = 2.0  # seconds /readyz waits for the store and for upstream's EHLO


@dataclass(frozen=True)
class MilterSettings:
    """Milter mode (Postfix smtpd_milters); off unless ``listen`` is set."""

    listen: str = ""  # "inet:127.0.0.1:10026" or "unix:/run/compuerta/milter.sock"
    idle_timeout: float = 330.0  # between packets: above Postfix's smtpd_timeout of 300 s
    packet_timeout: float = 30.0  # to receive the rest of a packet once its length arrived
    max_packet: int = 262144  # Postfix sends headers up to header_size_limit (102400) whole
    max_sessions: int = 200
    unix_mode: int = 0o660  # the Postfix user must be able to connect (share a group)


@dataclass(frozen=True)
class StoreSettings:
    url: str = "sqlite:///compuerta.db"
    decision_batch: int = 64  # rows per group commit of the decision log
    directory_reload: float = 5.0  # seconds between checks of the directory's version


@dataclass(frozen=True)
class OrganizationSettings:
    name: str = ""
    home_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalSettings:
    """Who approves held messages, and by when (000 Anexo A)."""

    # Approver roles besides "administrator" and "auditor"; 000 Anexo A: the DGTIT reviews,
    # Comunicación Social gives its visto bueno on publicity.
    roles: tuple[str, ...] = ("dgtit", "comunicacion_social")
    # Roles that must all approve a held message, unless its hold rule's settings name others
    # (e.g. [profiles."comunicacion.gto.gob.mx".masivo] approvers = ["dgtit", "comunicacion_social"]).
    required: tuple[str, ...] = ("dgtit",)
    deadline_days: int = 2  # 000 Anexo A: "dentro de los siguientes dos días hábiles"
    # Approvers are reminded this long before the deadline (end of the last business day): the
    # reminder reaches them during their last working afternoon.
    remind_hours: float = 8.0
    expire_days: int = 3  # business days after the deadline (escalated meanwhile) until expiry
    # A masivo is never silently sent (POLICY.md): past expiry it is rejected and the sender
    # told; "keep" leaves it in the queue, escalated, for as long as it takes.
    expiry_outcome: str = "reject"
    timezone: str = "America/Mexico_City"
    extra_holidays: tuple[str, ...] = ()  # ISO dates: state holidays, December recess
    notice_from: str = ""  # From: of notices; default postmaster@<first home domain>
    session_hours: float = 8.0
    secure_cookies: bool = False  # set true when [web] is served behind HTTPS


@dataclass(frozen=True)
class OutboxSettings:
    """Delivery of released masivos (issue 5): batches, connections, leases, retries, reminders."""

    batch: int = 500  # recipients per SMTP transaction (001 VI: "Límite de destinatarios 500")
    connections: int = 4  # parallel SMTP transactions to the upstream
    lease: float = 300.0  # seconds a worker holds a job before another node may take it over
    poll: float = 1.0  # seconds between looks for due jobs (other nodes' releases, retries)
    backoff: float = 60.0  # first retry after a 4xx; doubles each time
    backoff_max: float = 3600.0
    give_up_after: float = 432000.0  # 5 days, as Postfix's maximal_queue_lifetime
    remind_after: float = 172800.0  # peer administrators are reminded after 48 h unconfirmed
    reminders: int = 3
    sender: str = ""  # From: of the cover notes; default no-responder@<first home domain>
    node: str = ""  # this node's name in leases; default "<host name>:<smtp listen>"


@dataclass(frozen=True)
class DKIMDomain:
    """One signing domain: ``[dkim."gto.gob.mx"] selector = "s2026", key_file = "…"``."""

    selector: str = ""
    key_file: str = ""
    relayed: bool = False  # also sign mail relayed from this domain (RSA costs ~7 ms of CPU each)


@dataclass(frozen=True)
class Config:
    smtp: SMTPSettings = SMTPSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    web: WebSettings = WebSettings()
    milter: MilterSettings = MilterSettings()
    store: StoreSettings = StoreSettings()
    organization: OrganizationSettings = OrganizationSettings()
    approval: ApprovalSettings = ApprovalSettings()
    outbox: OutboxSettings = OutboxSettings()
    dkim: Mapping[str, DKIMDomain] = field(default_factory=dict)
    dkim_keys: Mapping[str, bytes] = field(default_factory=dict)  # read from dkim.*.key_file
    profile: Profile = Profile()
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    source: str = "<embedded default>"

    def profile_for(self, sender: str) -> Profile:
        """The profile of the sender's domain, or the default profile."""
        domain = sender.rpartition("@")[2].lower()
        return self.profiles.get(domain, self.profile)


def load(path: str | Path | None) -> Config:
    """Read ``path`` (or the embedded default when None) and validate every key."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ConfigError("--config", str(path), f"a readable file ({error.strerror})") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("--config", str(path), f"valid TOML ({error})") from error
    return build(data, str(path))


def build(data: Mapping[str, object], source: str = "<memory>") -> Config:
    sections = dict(data)
    profiles_raw = sections.pop("profiles", {})
    base = _fill(Config(), sections, "", skip=("profiles", "source", "dkim_keys"))
    profiles = {
        domain.lower(): _linked(_fill(base.profile, _table(raw, f"profiles.{domain}"), f"profiles.{domain}."))
        for domain, raw in _table(profiles_raw, "profiles").items()
    }
    config = dataclasses.replace(base, profile=_linked(base.profile), profiles=profiles, source=source)
    _validate(config)
    return dataclasses.replace(config, dkim_keys=_dkim_keys(config))


def _linked(profile: Profile) -> Profile:
    """freemail.mass judges "masivo" by the masivo rule's own criteria: one definition."""
    linked = dataclasses.replace(profile.freemail_mass, criteria=profile.masivo.criteria)
    return dataclasses.replace(profile, freemail_mass=linked)


def _table(value: object, key: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ConfigError(key, value, "a table")
    return value


_T = typing.TypeVar("_T")


def _fill(current: _T, values: Mapping[str, object], prefix: str, skip: tuple[str, ...] = ()) -> _T:
    """``current`` with ``values`` replacing its fields, each converted to the field's type."""
    hints = typing.get_type_hints(type(current))
    names = {f.name for f in dataclasses.fields(current) if f.name not in skip}  # type: ignore[arg-type]
    changes: dict[str, object] = {}
    for raw_key, value in values.items():
        name = raw_key.replace(".", "_").replace("-", "_")
        key = prefix + raw_key
        if name not in names:
            raise ConfigError(key, value, "a known key: " + ", ".join(sorted(names)))
        changes[name] = _convert(hints[name], getattr(current, name), value, key)
    return dataclasses.replace(current, **changes)  # type: ignore[type-var]


def _convert(hint: object, current: object, value: object, key: str) -> object:
    if dataclasses.is_dataclass(current):
        return _fill(current, _table(value, key), key + ".")
    if typing.get_origin(hint) is Mapping:  # a table of tables keyed by name, e.g. [dkim."domain"]
        item = typing.get_args(hint)[1]
        return {
            name.lower(): _fill(item(), _table(entry, f"{key}.{name}"), f"{key}.{name}.")
            for name, entry in _table(value, key).items()
        }
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = [member.name.lower() for member in hint]
        if not isinstance(value, str) or value.lower() not in allowed:
            raise ConfigError(key, value, "one of " + ", ".join(allowed))
        return hint[value.upper()]
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, value, "a list of strings")
        return tuple(value)
    return _scalar(hint, value, key)


def _scalar(hint: object, value: object, key: str) -> object:
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, value, "true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(key, value, "a whole number >= 0")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(key, value, "a number >= 0")
        return float(value)
    if hint is str or (isinstance(hint, types.UnionType) and str in typing.get_args(hint)):
        if not isinstance(value, str):
            raise ConfigError(key, value, "a string")
        return value
    raise ConfigError(key, value, f"a value of type {hint}")


def parse_address(value: str, key: str) -> tuple[str, int]:
    """Split "host:port" (or "[v6]:port"); the error names ``key``."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(key, value, 'an address "host:port" with a port 0-65535')
    return host, int(port)


def parse_milter_address(value: str, key: str) -> tuple[str, str, int]:
    """Split Postfix's milter notation: ("inet", host, port) or ("unix", path, 0)."""
    kind, _, rest = value.partition(":")
    if kind == "inet":
        host, port = parse_address(rest, key)
        return kind, host, port
    if kind == "unix" and rest.startswith("/"):
        return kind, rest, 0
    raise ConfigError(key, value, '"inet:HOST:PORT" or "unix:/ABSOLUTE/PATH" (Postfix notation)')


_HELO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?|\[[0-9A-Fa-f.:IPv]{2,60}\]")


def _validate(config: Config) -> None:
    parse_address(config.smtp.listen, "smtp.listen")
    if config.smtp.workers < 1:
        raise ConfigError("smtp.workers", config.smtp.workers, "a whole number >= 1")
    if config.milter.listen:
        parse_milter_address(config.milter.listen, "milter.listen")
    if config.milter.max_packet < 65536 + 16:
        # MILTER_CHUNK_SIZE: a body chunk of 65535 bytes must fit in one packet
        raise ConfigError("milter.max_packet", config.milter.max_packet, "at least 65552")
    parse_address(config.upstream.address, "upstream.address")
    if not _HELO.fullmatch(config.upstream.helo):
        # RFC 5321 §4.1.1.1: EHLO names a domain or an address literal; it goes on the wire as is
        raise ConfigError(
            "upstream.helo", config.upstream.helo, "a host name such as mx1.gto.gob.mx or [192.0.2.1]"
        )
    parse_address(config.web.listen, "web.listen")
    _validate_networks(config.smtp.trusted_networks, "smtp.trusted_networks")
    _validate_networks(config.web.metrics_networks, "web.metrics_networks")
    url = config.store.url
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError("store.url", url, '"sqlite:///PATH" or "postgresql://…"')
    for domain in config.organization.home_domains:
        if "@" in domain or "." not in domain:
            raise ConfigError("organization.home_domains", domain, "domain names like gto.gob.mx")
    for name, profile in [
        ("profile", config.profile),
        *((f"profiles.{d}", p) for d, p in config.profiles.items()),
    ]:
        _validate_profile(profile, name)
    _validate_approval(config)
    _validate_outbox(config)


def _validate_approval(config: Config) -> None:
    approval = config.approval
    for role in approval.roles:
        if not role.isidentifier() or role in ("administrator", "auditor"):
            raise ConfigError("approval.roles", role, "names like dgtit (not administrator or auditor)")
    for role in approval.required:
        if role not in approval.roles:
            raise ConfigError("approval.required", role, "roles listed in approval.roles")
    for name, profile in [
        ("profile", config.profile),
        *((f"profiles.{d}", p) for d, p in config.profiles.items()),
    ]:
        for role in profile.masivo.approvers:
            if role not in approval.roles:
                raise ConfigError(f"{name}.masivo.approvers", role, "roles listed in approval.roles")
    if approval.expiry_outcome not in ("reject", "keep"):
        raise ConfigError("approval.expiry_outcome", approval.expiry_outcome, '"reject" or "keep"')
    try:
        deadlines.calendar(approval.timezone, approval.extra_holidays)
    except (ValueError, KeyError) as error:
        raise ConfigError("approval", approval.extra_holidays, f"ISO dates and a valid timezone ({error})")


def _validate_networks(networks: tuple[str, ...], key: str) -> None:
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as error:
            raise ConfigError(key, network, "IP networks in CIDR form") from error


def _validate_outbox(config: Config) -> None:
    for name, entry in config.dkim.items():
        if not entry.selector or not entry.key_file:
            raise ConfigError(f"dkim.{name}", dataclasses.asdict(entry), "a selector and a key_file")
    if config.outbox.batch < 1 or config.outbox.connections < 1:
        raise ConfigError("outbox.batch/connections", config.outbox.batch, "whole numbers >= 1")


def _dkim_keys(config: Config) -> dict[str, bytes]:
    keys = {}
    for name, entry in config.dkim.items():
        try:
            keys[name] = Path(entry.key_file).read_bytes()
        except OSError as error:
            raise ConfigError(f"dkim.{name}.key_file", entry.key_file,
                              f"a readable key file ({error.strerror})") from error  # fmt: skip
    return keys


def _validate_profile(profile: Profile, key: str) -> None:
    from filters import REGISTRY  # the registry is the list of known rules

    for rule in profile.order:
        if rule not in REGISTRY:
            raise ConfigError(f"{key}.order", rule, "rule ids: " + ", ".join(REGISTRY))
    for rule, module in REGISTRY.items():
        settings = profile.settings(rule)
        if getattr(settings, "action", Action.ACCEPT) == Action.ACCEPT:
            raise ConfigError(f"{key}.{rule}.action", "accept", "tag, hold, tempfail or reject")
        # Fail closed: no other action of a rule (e.g. attach.dangerous encrypted_action) accepts.
        for name, value in vars(settings).items():
            if name.endswith("_action") and value == Action.ACCEPT:
                raise ConfigError(f"{key}.{rule}.{name}", "accept", "tag, hold, tempfail or reject")
        # A filter may check what the types alone cannot (a time zone, an address)
        problem = module.validate(settings) if hasattr(module, "validate") else None
        if problem is not None:
            name, value, allowed = problem
            raise ConfigError(f"{key}.{rule}.{name}", value, allowed)
