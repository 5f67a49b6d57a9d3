"""What each command was asked to do, typed: cli.py builds these once from its arguments.

`Settings` (config.py) stays the one configuration (connection, naming, limits, from arguments and
GLANCE_KAFKA_* variables alike); these hold the choices only a command line makes, so the code
that runs a command never sees the parsed arguments. (opts.py is another thing: glance-api.conf's
[glance_kafka] options for the driver.) Imports stay light: no extra is needed to build them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .bridge import BridgeOptions
    from .rabbit import TapOptions


@dataclass(frozen=True)
class BrokerOptions:
    port: int = 9092
    host: str = "127.0.0.1"
    create_topics: bool = False
    topic_prefix: str | None = None


@dataclass(frozen=True)
class TopicsOptions:
    partitions: int = 4
    replication_factor: int = 1
    timeout: float = 30.0


@dataclass(frozen=True)
class PublishOptions:
    file: str = "-"
    #: Exit 1 when any line was dead-lettered.
    strict: bool = False
    undelivered_file: Path | None = None


@dataclass(frozen=True)
class ConsumeOptions:
    topics: tuple[str, ...]
    from_beginning: bool = False
    max_records: int | None = None
    idle_timeout: float = 5.0
    raw: bool = False
    original: bool = False


@dataclass(frozen=True)
class BridgeCommand:
    """The bridge's source (oslo's Kafka topics, or the RabbitMQ tap) and its status endpoint."""

    source: BridgeOptions | TapOptions
    host: str = "127.0.0.1"
    metrics_port: int | None = None


@dataclass(frozen=True)
class StreamOptions:
    host: str = "127.0.0.1"
    metrics_port: int = 9108
    web_port: int = 6066
    data_dir: str | None = None
    #: Records per fetch handed to the aggregator (Faust's broker_max_poll_records).
    batch_size: int = 5000
    #: Long-poll wait of a fetch; see streams.ingest.
    fetch_wait_ms: int = 100
    #: How often source offsets are committed; records after the last commit are replayed
    #: (and skipped by the rows that hold them) after a crash.
    commit_seconds: float = 1.0
    dedupe_window: int = 100_000
    session_timeout: float = 6.0
    project_label_limit: int = 1000
    #: -v count: Faust's log level and how much of aiokafka's connection chatter is kept.
    verbose: int = 0


@dataclass(frozen=True)
class DemoOptions:
    duration: float = 60.0
    rate: float = 500.0
    projects: int = 40
    images_per_project: int = 3
    seed: int = 1
    #: False with --bootstrap-servers: the demo then uses that Kafka instead of its own broker.
    embedded_broker: bool = True
    broker_port: int | None = None
    metrics_port: int = 9108
    web_port: int = 6066
    live: bool = True
