"""The operator's routes (gateway.health) on the real web listener: /healthz, /readyz, /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import metrics, web
from gateway.model import Action, Envelope, HeldMessage, Verdict
from tests.conftest import FixedClock, Gateway, GatewayFactory, Sink
from tests.integration.compuerta import sample
from tests.integration.postfix import free_port

Web = Callable[[Gateway], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def web_client() -> AsyncIterator[Web]:
    """Serves a gateway's web app on a real socket; yields a factory of clients to it."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def start(gateway: Gateway) -> httpx.AsyncClient:
        server, task = await web.start(web.build(gateway.services), "127.0.0.1", 0)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{web.bound_port(server)}", timeout=10)

        async def stop() -> None:
            await client.aclose()
            server.should_exit = True
            await task

        stops.append(stop)
        return client

    yield start
    for stop in stops:
        await stop()


async def test_healthz_and_readyz_with_upstream_up(gateway: Gateway, sink: Sink, web_client: Web) -> None:
    client = await web_client(gateway)
    assert (await client.get("/healthz")).text == "ok\n"
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["store"] == "ok" and body["upstream"].startswith("ok: sink")


async def test_readyz_fails_when_upstream_is_down(gateway_factory: GatewayFactory, web_client: Web) -> None:
    gateway = await gateway_factory(free_port())  # nobody listens there
    client = await web_client(gateway)
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["ready"] is False and body["store"] == "ok" and body["upstream"].startswith("error")
    families = {f.name: f for f in text_string_to_metric_families((await client.get("/metrics")).text)}
    assert sample(families, "compuerta_upstream_up") == 0


async def test_metrics_only_for_configured_networks(
    gateway_factory: GatewayFactory, sink: Sink, web_client: Web
) -> None:
    closed = await gateway_factory(sink.port, {"web": {"metrics_networks": ["10.0.0.0/8"]}})
    assert (await (await web_client(closed)).get("/metrics")).status_code == 403
    opened = await gateway_factory(sink.port, {"web": {"metrics_networks": ["127.0.0.0/8"]}})
    assert (await (await web_client(opened)).get("/metrics")).status_code == 200


async def test_held_queue_depth_refreshed_on_scrape(
    gateway_factory: GatewayFactory, sink: Sink, web_client: Web
) -> None:
    clock = FixedClock()
    gateway = await gateway_factory(sink.port, clock=clock)
    for n in range(2):
        await gateway.store.hold(HeldMessage(
            f"M{n}", Envelope("ana@gto.gob.mx", ("x@y.mx",)), b"Subject: x\r\n\r\nhola\r\n",
            (Verdict(Action.HOLD, "masivo", "prueba"),), clock.at - timedelta(minutes=30 * (n + 1)),
        ))  # fmt: skip
    text = (await (await web_client(gateway)).get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert sample(families, "compuerta_held_messages", state="held") == 2
    assert sample(families, "compuerta_held_messages", state="expired") == 0
    assert sample(families, "compuerta_held_oldest_age_seconds") == 3600
    assert sample(families, "compuerta_build_info", version="0.1.0") == 1


async def test_scrape_probes_upstream(gateway: Gateway, sink: Sink, web_client: Web) -> None:
    metrics.UPSTREAM_UP.set(0)  # as a scrape while upstream was down left it
    text = (await (await web_client(gateway)).get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert sample(families, "compuerta_upstream_up") == 1  # no /readyz call needed
