"""The operator's routes on the web listener: /healthz (alive), /readyz (can work), /metrics.

Trusts the Services it is given and the client address the ASGI server reports (the web
listener is never behind a proxy that rewrites it). /metrics answers only clients inside
``[web] metrics_networks`` when that list is set; none of the three routes needs a login, and
none shows addresses or message content.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import exposition, gauges, metrics
from gateway.config import parse_address
from gateway.outcome import Services
from gateway.store import StoreError
from relay.client import ConnectionLost
from relay.probe import probe

log = logging.getLogger(__name__)


def routes(services: Services) -> list[BaseRoute]:
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        timeout = services.env.config.web.ready_timeout
        store, upstream = await asyncio.gather(_store(services, timeout), _upstream(services, timeout))
        ready = store == "ok" and upstream.startswith("ok")
        body = {"ready": ready, "store": store, "upstream": upstream}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def scrape(request: Request) -> Response:
        if not _allowed(request, services.env.config.web.metrics_networks):
            return PlainTextResponse("forbidden\n", status_code=403)
        # The upstream probe too, so compuerta_upstream_up is never older than the last scrape.
        timeout = services.env.config.web.ready_timeout
        await asyncio.gather(gauges.refresh(services.store, services.env.clock.now()),
                             _upstream(services, timeout))  # fmt: skip
        return Response(exposition.latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", scrape)]


async def _store(services: Services, timeout: float) -> str:
    try:
        async with asyncio.timeout(timeout):
            await services.store.ping()
    except (StoreError, TimeoutError) as error:
        metrics.STORE_ERRORS.labels(op="ping").inc()
        return f"error: {error or 'timeout'}"
    return "ok"


async def _upstream(services: Services, timeout: float) -> str:
    upstream = services.env.config.upstream
    host, port = parse_address(upstream.address, "upstream.address")
    try:
        async with asyncio.timeout(timeout):
            greeting = await probe(host, port, timeout, upstream.helo)
    except (ConnectionLost, OSError, TimeoutError) as error:
        log.warning("readyz: upstream %s not ready: %s", upstream.address, error or "timeout")
        metrics.UPSTREAM_UP.set(0)
        return f"error: {type(error).__name__} {error}".strip()
    metrics.UPSTREAM_UP.set(1)
    return f"ok: {greeting[:80]}"


def _allowed(request: Request, networks: tuple[str, ...]) -> bool:
    if not networks:
        return True
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False  # a UNIX socket or an unknown peer
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)
