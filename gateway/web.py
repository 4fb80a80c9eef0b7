"""The web listener: one ASGI app (Starlette) served by uvicorn inside the gateway's event loop.

Trusts the Services it is given; every route but the operator's (/healthz, /readyz, /metrics,
in gateway.health) requires a login, which the approval app adds. Hands requests to the route
modules listed in ``routes()``; it only assembles them and runs the server.
"""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from gateway import confirmation, health
from gateway.approval import app as approval
from gateway.outcome import Services

log = logging.getLogger(__name__)


def routes(services: Services) -> list[BaseRoute]:
    """Every route of the web listener; each area adds its module's ``routes(services)`` here."""
    return [*health.routes(services), *confirmation.routes(services)]


def build(services: Services) -> Starlette:
    # The approval app (login, queue, status pages, JSON API) comes last: it mounts at "/".
    return Starlette(routes=[*routes(services), *approval.routes(services)])


async def start(app: Starlette, host: str, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve ``app`` in the running loop; returns the server (for shutdown) and its task."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                            access_log=False, server_header=False)  # fmt: skip
    server = uvicorn.Server(config)
    # _serve, not serve: the gateway owns SIGTERM/SIGINT (uvicorn's serve() would take them over)
    task = asyncio.get_running_loop().create_task(server._serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        task.result()  # raises the bind error, if any
        raise OSError(f"web listener on {host}:{port} did not start")
    return server, task


def bound_port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    return 0
