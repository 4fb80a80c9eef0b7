"""What the administration commands share: the store and upstream of a config, as Services.

Trusts a validated Config. Hands Services to gateway.moderation exactly as `compuerta serve`
builds them, so that the shell follows the same rules as the web.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway import delivery, moderation
from gateway.clock import SystemClock
from gateway.config import Config, parse_address
from gateway.outcome import Services
from gateway.pipeline import Environment
from gateway.store import open_store
from gateway.usage import StoreMeter
from relay.transport import SMTPTransport


@asynccontextmanager
async def opened(config: Config) -> AsyncIterator[Services]:
    store = await open_store(config.store.url, config.store.decision_batch)
    host, port = parse_address(config.upstream.address, "upstream.address")
    transport = SMTPTransport(host, port, 1, config.upstream.timeout, config.upstream.helo)
    # A delivery worker that is never started: `held approve --wait` drains it while waiting.
    worker = delivery.Worker(store, transport, SystemClock(), config, delivery.signer(config))
    # The directory and the rate meter too: a release from the shell counts like one from the web
    meter = StoreMeter(store, transport, config.smtp.hostname)
    env = Environment(config, SystemClock(), await store.directory(), meter)
    services = Services(env, store, transport, config.smtp.hostname, worker.signer, worker)
    worker.on_done = functools.partial(moderation.delivered, services)
    try:
        yield services
    finally:
        await transport.close()
        await store.close()
