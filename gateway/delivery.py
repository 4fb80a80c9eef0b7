"""The delivery worker: takes outbox jobs, sends them upstream, records each recipient's outcome.

Trusts the outbox (gateway.store.outbox) to hand a job to one worker at a time, and the
Transport to say what the upstream answered. Runs inside the gateway process, ``connections``
jobs at a time. Nothing is marked delivered before the upstream accepted it; a 4xx is retried
with exponential backoff written to the store (a restart resumes it); a 5xx fails the job's
recipients with the upstream's reply. Cover notes and reminders for peer administrators are
built by relay.cover and, like released masivos, DKIM-signed last (relay.dkim).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway import metrics
from gateway.config import Config, ConfigError
from gateway.model import Clock, DeliveryKind, HeldMessage, Release
from gateway.pipeline import Environment
from gateway.store import Store, outbox
from gateway.store.database import DatabaseError, Executor
from gateway.store.moderation import ticket_of
from gateway.store.outbox import Job, Reminder
from relay import cover, fanout
from relay.dkim import DKIMError, Key, Signer, check
from relay.transport import SendResult, Transport, UpstreamError

log = logging.getLogger(__name__)
_LEASE_SHARE = 0.8  # of its lease, the longest a job may take before it is given up and deferred


@dataclass(frozen=True)
class _Released:
    held: HeldMessage
    release: Release
    signed: bytes  # the home-domain bytes: the original, signed last (sent to every batch)


class Worker:
    def __init__(
        self, store: Store, transport: Transport, clock: Clock, config: Config, signer: Signer
    ) -> None:
        self.store, self.transport, self.clock, self.config = store, transport, clock, config
        self.settings = config.outbox
        self.signer = signer
        # Stable across restarts (so a restarted node takes back its own leases at once) and
        # distinct for two nodes on one host (they listen on different ports).
        self.node = self.settings.node or f"{socket.gethostname()}:{config.smtp.listen}"
        self._wake = asyncio.Event()
        self._cache: dict[int, _Released] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Called with the ticket once every job of a release has finished (gateway.moderation
        # then marks it delivered and tells the sender); set by the wiring, after Services exist.
        self.on_done: Callable[[str], Awaitable[None]] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take back this node's leases (its old process died with them), then start working."""
        taken = await outbox.release_leases(self.store.db, self.node + "/")
        if taken:
            log.info("outbox: resumed %d job(s) this node held before it stopped", taken)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(n)) for n in range(self.settings.connections)]

    async def stop(self) -> None:
        """Stop taking jobs; a job cut short stays claimed by this node and resumes at restart."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def wake(self) -> None:
        """New jobs were released in this process: look now rather than at the next poll."""
        self._wake.set()

    async def _run(self, number: int) -> None:
        owner = f"{self.node}/{number}"
        while True:
            try:
                worked = await self.step(owner)
                if not worked and number == 0:
                    await self.remind()
            except DatabaseError as error:
                log.error("outbox: store unavailable, retrying: %s", error)
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll)
                self._wake.clear()

    async def drain(self, owner: str | None = None) -> int:
        """Send every job that is due now, ``connections`` at a time; returns how many were sent."""
        prefix = owner or self.node
        counts = await asyncio.gather(
            *(self._drain_one(f"{prefix}/{n}") for n in range(self.settings.connections))
        )
        return sum(counts)

    async def _drain_one(self, owner: str) -> int:
        count = 0
        while await self.step(owner):
            count += 1
        return count

    # -- one job --------------------------------------------------------------------------------

    async def step(self, owner: str) -> bool:
        """Claim one due job for ``owner`` and send it; False when nothing was due."""
        now = self.clock.now()
        jobs = await outbox.claim(self.store.db, owner, now, now + timedelta(seconds=self.settings.lease))
        for job in jobs:
            await self._send(job, owner)
        return bool(jobs)

    async def _send(self, job: Job, owner: str) -> None:
        if not job.rcpt_tos:
            await outbox.delivered(self.store.db, job, (), 250, "", self.clock.now())
            return
        try:
            # Done well within the lease, or given up: past it another node may take the job
            # over and send it a second time while this one is still talking to upstream
            async with asyncio.timeout(self.settings.lease * _LEASE_SHARE):
                data = await self._bytes(job)
                result = await self.transport.send(job.mail_from, job.rcpt_tos, data)
        except TimeoutError:
            log.warning(
                "outbox: job %d not done in %.0f%% of its lease; deferred", job.id, _LEASE_SHARE * 100
            )
            await self._refused(job, owner, 451, "4.4.2 compuerta: upstream too slow for the job's lease")
            return
        except UpstreamError as error:
            await self._refused(job, owner, error.code, error.text)
            return
        except (DKIMError, OSError, ValueError) as error:
            log.exception("outbox: job %d could not be prepared", job.id)
            await self._refused(job, owner, 451, f"4.3.0 compuerta: {type(error).__name__}")
            return
        await self._accepted(job, result)
        await self._finished(job)

    async def _finished(self, job: Job) -> None:
        if self.on_done is None or not await outbox.release_done(self.store.db, job.held_id):
            return
        try:
            await self.on_done(ticket_of(job.held_id))
        except Exception:  # the moderation sweep retries it; delivery itself is recorded
            log.exception("outbox: %s delivered, but its completion failed", ticket_of(job.held_id))

    async def _accepted(self, job: Job, result: SendResult) -> None:
        # The upstream took it: from here a lost write means a duplicate, so write at once.
        await outbox.delivered(self.store.db, job, result.refused, result.code, result.text, self.clock.now())
        metrics.FANOUT_ATTEMPTS.labels(result="accepted").inc()
        metrics.FANOUT_RECIPIENTS.labels(result="delivered").inc(len(job.rcpt_tos) - len(result.refused))
        if result.refused:
            metrics.FANOUT_RECIPIENTS.labels(result="failed").inc(len(result.refused))
        log.info("outbox: %s job %d (%s %s): %d accepted, %d refused", ticket_of(job.held_id), job.id,
                 job.kind.value, job.domain, len(job.rcpt_tos) - len(result.refused), len(result.refused))  # fmt: skip

    async def _refused(self, job: Job, owner: str, code: int, text: str) -> None:
        now = self.clock.now()
        expired = now - job.created_at >= timedelta(seconds=self.settings.give_up_after)
        if code >= 500 or expired:
            await outbox.failed(self.store.db, job, code, text, now)
            metrics.FANOUT_ATTEMPTS.labels(result="failed").inc()
            metrics.FANOUT_RECIPIENTS.labels(result="failed").inc(len(job.rcpt_tos))
            log.warning("outbox: job %d failed for good: %d %s", job.id, code, text)
            await self._finished(job)
            return
        delay = min(self.settings.backoff * 2**job.attempts, self.settings.backoff_max)
        await outbox.deferred(self.store.db, job, owner, code, text, now + timedelta(seconds=delay))
        metrics.FANOUT_ATTEMPTS.labels(result="deferred").inc()
        log.info("outbox: job %d deferred %ds after %d %s", job.id, delay, code, text)

    async def _bytes(self, job: Job) -> bytes:
        released = await self._released(job.held_id)
        if job.kind is not DeliveryKind.PEER:
            return released.signed
        note = self._note(released, job.domain, job.token)
        return self.signer.sign(cover.cover(note, job.rcpt_tos, released.held.raw, self.clock.now(),
                                            f"peer{job.id}"))  # fmt: skip

    async def _released(self, held_id: int) -> _Released:
        cached = self._cache.get(held_id)
        if cached is not None:
            return cached
        ticket = ticket_of(held_id)
        held = await self.store.held(ticket)
        release = await outbox.release_of(self.store.db, held_id, ticket)
        if held is None or release is None:
            raise ValueError(f"job of {ticket} without its held message or release")
        if len(self._cache) >= 8:  # a held message may be 25 MB: keep only a few
            self._cache.clear()
        self._cache[held_id] = _Released(held, release, self.signer.sign(held.raw))
        return self._cache[held_id]

    def _note(self, released: _Released, domain: str, token: str) -> cover.Note:
        return cover.Note(
            released.release, released.held.subject, released.held.envelope.mail_from, domain,
            confirm_url(self.config, token), sender(self.config), self.config.smtp.hostname,
        )  # fmt: skip

    # -- reminders to peer administrators -------------------------------------------------------

    async def remind(self) -> int:
        """Remind peer administrators who have not confirmed; returns how many were reminded."""
        now = self.clock.now()
        due = await outbox.due_reminders(
            self.store.db, now - timedelta(seconds=self.settings.remind_after), self.settings.reminders
        )
        sent = 0
        for reminder in due:
            # Claim the reminder first (one node sends it), then send: at most one per period.
            if await outbox.reminded(self.store.db, reminder, now):
                sent += await self._send_reminder(reminder, now)
        return sent

    async def _send_reminder(self, reminder: Reminder, now: datetime) -> int:
        try:
            released = await self._released(reminder.held_id)
            note = self._note(released, reminder.domain, reminder.token)
            data = cover.reminder(note, reminder.rcpt_tos, reminder.reminders + 1, now,
                                  f"reminder{reminder.reminders + 1}.peer{reminder.id}")  # fmt: skip
            await self.transport.send(sender(self.config), reminder.rcpt_tos, self.signer.sign(data))
        except (UpstreamError, DKIMError, ValueError) as error:
            log.warning("outbox: reminder for %s not sent: %s", reminder.domain, error)
            return 0
        return 1


async def release(
    store: Store, env: Environment, held: HeldMessage, approval: Release, tx: Executor | None = None
) -> bool:
    """Plan and write the delivery jobs of an approved ``held`` (in ``tx``, the approval's).

    False when ``held`` had been released before: a second approval delivers nothing more.
    """
    config = env.config
    jobs = fanout.plan(held, env.current_directory(), config.organization.home_domains, sender(config),
                       config.outbox.batch)  # fmt: skip
    return await store.release(held, approval, jobs, env.clock.now(), tx)


def signer(config: Config) -> Signer:
    """The DKIM Signer of ``[dkim."domain"]``; a key that cannot sign stops the start (exit 2)."""
    keys = {}
    for domain, entry in config.dkim.items():
        key = Key(domain, entry.selector, config.dkim_keys.get(domain, b""))
        try:
            check(key)
        except DKIMError as error:
            raise ConfigError(f"dkim.{domain}.key_file", entry.key_file,
                              f"a key made by `compuerta dkim keygen` ({error})") from error  # fmt: skip
        keys[domain] = key
    relayed = frozenset(domain for domain, entry in config.dkim.items() if entry.relayed)
    return Signer(keys, relayed)


def sender(config: Config) -> str:
    """The envelope and From: address of what the gateway writes itself."""
    if config.outbox.sender:
        return config.outbox.sender
    domains = config.organization.home_domains
    return f"no-responder@{domains[0] if domains else config.smtp.hostname}"


def confirm_url(config: Config, token: str) -> str:
    return f"{config.web.base_url.rstrip('/')}/confirmar/{token}"
