"""Shared fixtures: one real embedded broker (Tansu over TCP) and, for the tests that ask for it, one
real RabbitMQ node per test session; fresh topics per test."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from producers.broker import EmbeddedBroker
from producers.config import Settings
from tests.glance_api import glance_api  # noqa: F401 - the real glance-api fixture factory

if TYPE_CHECKING:  # imported by the fixture: it brings oslo.messaging along
    from tests.rabbitmq import RabbitMQ


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """Debian's rabbitmq-server on free ports (started on first use, ~7 s), stopped by pid."""
    from tests.rabbitmq import RabbitMQ

    with RabbitMQ(tmp_path_factory.mktemp("rabbitmq")) as node:
        yield node


@pytest.fixture(autouse=True)
def _close_oslo_drivers() -> Iterator[None]:
    """Drivers made by a test deliver and drop their producers when it ends, instead of trying
    to reach the test broker until the interpreter exits."""
    yield
    from producers.driver import _DRIVERS

    for driver in list(_DRIVERS):
        # a test about failures may leave one that cannot flush; that test has checked it
        with contextlib.suppress(Exception):
            driver.close(10)


@pytest.fixture
def settings(broker: EmbeddedBroker) -> Settings:
    """Settings pointing at the session broker, with a topic prefix no other test uses."""
    return Settings(bootstrap_servers=broker.bootstrap_servers,
                    topic_prefix=f"t{uuid.uuid4().hex[:8]}.glance.")


@pytest.fixture
def closed_address() -> Iterator[str]:
    """host:port where nothing listens (Kafka, RabbitMQ) and nothing can start to while the test
    runs: this socket holds the port bound but not listening, so a connect is refused. A port
    free_port() merely found free can be taken by another test's server a moment later; the
    "unreachable" Kafka then accepts and never answers (the likely cause of an exit flush of
    12 s, not 3)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def offline_settings() -> Settings:
    return Settings(bootstrap_servers="127.0.0.1:1")
