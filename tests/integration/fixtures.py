"""Fixtures for tests that run real processes: a Postfix instance and compuerta itself.

Loaded for the whole suite by tests/conftest.py (pytest_plugins).

Each fixture stops what it started in its teardown, also when the test failed, so that no
Postfix or compuerta process outlives the test. The milter (issue 10) reuses ``postfix``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.compuerta import Compuerta
from tests.integration.postfix import Postfix


@pytest.fixture
def postfix() -> Iterator[Callable[[], Postfix]]:
    """Prepares instances (call ``configure`` then ``launch``, or use ``Postfix.start``)."""
    instances: list[Postfix] = []

    def prepare() -> Postfix:
        instance = Postfix.prepare()
        instances.append(instance)
        return instance

    yield prepare
    for instance in instances:
        instance.stop()


@pytest.fixture
def compuerta(tmp_path: Path) -> Iterator[Callable[[int], Compuerta]]:
    """Builds a compuerta process relaying to the given upstream port (call ``start``)."""
    started: list[Compuerta] = []

    def build(upstream_port: int) -> Compuerta:
        folder = tmp_path / f"compuerta-{len(started)}"
        folder.mkdir()
        process = Compuerta(folder, upstream_port)
        started.append(process)
        return process

    yield build
    for process in started:
        process.stop()
