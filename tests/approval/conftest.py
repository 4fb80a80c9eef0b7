"""The approval app over a real socket: the gateway (SMTP) and its web listener in the test loop."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from gateway import web
from gateway.approval import auth
from gateway.model import User
from tests.conftest import FixedClock, Gateway, GatewayFactory, Sink, send
from tests.filters import directory

PASSWORD = "contraseña de prueba"
USERS = (("dgtit1", ("dgtit",)), ("social1", ("comunicacion_social",)), ("auditora", ("auditor",)),
         ("jefe", ("administrator",)))  # fmt: skip


@dataclass
class Approval:
    gateway: Gateway
    base: str


Starter = Callable[..., Awaitable[Approval]]


@pytest.fixture
async def approval(gateway_factory: GatewayFactory, sink: Sink) -> AsyncIterator[Starter]:
    servers = []

    async def start(overrides: dict[str, object] | None = None, clock: FixedClock | None = None) -> Approval:
        gateway = await gateway_factory(sink.port, overrides, directory.build(), clock)
        hashed = auth.hash_password(PASSWORD)
        for name, roles in USERS:
            user = User(name, roles, f"{name}@gto.gob.mx", True, hashed)
            await gateway.store.add_user(user, datetime(2026, 1, 1, tzinfo=UTC))
        server, task = await web.start(web.build(gateway.services), "127.0.0.1", 0)
        servers.append((server, task))
        return Approval(gateway, f"http://127.0.0.1:{web.bound_port(server)}")

    yield start
    for server, task in servers:
        server.should_exit = True
        await task


async def deliver(app: Approval) -> None:
    """Run the outbox's delivery worker (which marks the release delivered when it is done)."""
    assert app.gateway.services.worker is not None
    await app.gateway.services.worker.drain()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get("/ingresar")
    data = {"csrf": csrf_of(form.text), "usuario": username, "contrasena": password}
    return await client.post("/ingresar", data=data, follow_redirects=True)


async def hold(approval: Approval, data: bytes, rcpts: list[str] | None = None) -> str:
    code, text = await send(approval.gateway.port, "ana@gto.gob.mx", rcpts or ["todos@gto.gob.mx"], data)
    assert code == 250 and "2.6.0" in text, text
    return text.split("folio ")[1].split(";")[0]
