"""`glance-kafka`: one command line for the whole pipeline.

    glance-kafka broker                      run the embedded Kafka-compatible broker
    glance-kafka topics                      create the per-type topics
    glance-kafka publish [FILE|-]            JSON lines (plain or oslo wire envelopes) to Kafka
    glance-kafka consume --topic T           Avro records back to JSON lines (kcat for this product)
    glance-kafka bridge                      Glance's notifications from RabbitMQ (or oslo's Kafka
                                             topics) to the per-type topics
    glance-kafka stream                      a stream worker serving Prometheus metrics
    glance-kafka demo                        all of it on the embedded broker, with live traffic
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from confluent_kafka import KafkaException

from .config import EMBEDDED_BOOTSTRAP, Settings, load_settings
from .exceptions import (
    EXIT_CODES,
    ConfigurationError,
    GlanceKafkaError,
    InvalidNotification,
    from_kafka,
)
from .extras import require
from .options import (
    BridgeCommand,
    BrokerOptions,
    ConsumeOptions,
    DemoOptions,
    PublishOptions,
    StreamOptions,
    TopicsOptions,
)

log = logging.getLogger("glance_kafka")

EXIT_OK, EXIT_DEAD_LETTERS = 0, 1
#: Every command's --help ends with the exit codes (the one table is exceptions.EXIT_CODES).
EXIT_EPILOG = "exit codes:\n" + "\n".join(f"  {code:>3}  {what}"
                                           for code, what in EXIT_CODES.items())


def _positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a number above zero, or a one-line usage error (exit 2)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _port(text: str) -> int:
    """An argparse type: a TCP port (0: any free one), or a one-line usage error (exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text}")
    return value


def _librdkafka_setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (also GLANCE_KAFKA_* environment variables)")
    group.add_argument("--bootstrap-servers", metavar="HOST:PORT",
                       help=f"Kafka bootstrap servers (default: the embedded broker's, "
                            f"{EMBEDDED_BOOTSTRAP})")
    group.add_argument("--schema-registry-url", metavar="URL",
                       help="Confluent-compatible Schema Registry (default: ids from avro/manifest.json)")
    group.add_argument("--topic-prefix", metavar="PREFIX", help="topic prefix (default: 'glance.')")
    group.add_argument("-X", dest="librdkafka", action="append", type=_librdkafka_setting,
                       default=[], metavar="KEY=VALUE", help="any librdkafka setting (repeatable)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(
        bootstrap_servers=args.bootstrap_servers, schema_registry_url=args.schema_registry_url,
        topic_prefix=args.topic_prefix, librdkafka=dict(args.librdkafka) or None,
        shutdown_grace_seconds=getattr(args, "grace", None))


def _stop_on_signals(stop: Callable[[], None]) -> None:
    def handler(signum: int, frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


# -- broker -----------------------------------------------------------------------------------

def broker_options(args: argparse.Namespace) -> BrokerOptions:
    return BrokerOptions(port=args.port, host=args.host, create_topics=args.create_topics,
                         topic_prefix=args.topic_prefix)


def cmd_broker(args: argparse.Namespace) -> int:
    require("demo")
    from .broker import EmbeddedBroker
    from .topics import ensure_topics

    options = broker_options(args)
    stop = threading.Event()
    _stop_on_signals(stop.set)
    with EmbeddedBroker(port=options.port, host=options.host) as broker:
        if options.create_topics:
            ensure_topics(load_settings(bootstrap_servers=broker.bootstrap_servers,
                                        topic_prefix=options.topic_prefix))
        print(f"embedded broker (memory storage) on {broker.bootstrap_servers}", flush=True)
        while not stop.wait(0.5):
            if broker.process is not None and broker.process.poll() is not None:
                raise GlanceKafkaError("the embedded broker exited")
    return EXIT_OK


# -- topics -----------------------------------------------------------------------------------

def topics_options(args: argparse.Namespace) -> TopicsOptions:
    return TopicsOptions(partitions=args.partitions, replication_factor=args.replication_factor,
                         timeout=args.timeout)


def cmd_topics(args: argparse.Namespace) -> int:
    from .topics import ensure_topics, pipeline_topics

    settings, options = settings_from(args), topics_options(args)
    created = ensure_topics(settings, partitions=options.partitions,
                            replication_factor=options.replication_factor,
                            timeout=options.timeout)
    for topic in pipeline_topics(settings):
        print(f"{topic}\t{'created' if topic in created else 'exists'}")
    return EXIT_OK


# -- publish ----------------------------------------------------------------------------------

def publish_options(args: argparse.Namespace) -> PublishOptions:
    return PublishOptions(
        file=args.file, strict=args.strict,
        undelivered_file=Path(args.undelivered_file) if args.undelivered_file else None)


def cmd_publish(args: argparse.Namespace) -> int:
    from .filepublish import FilePublish, open_input, report
    from .publisher import Publisher

    settings, options = settings_from(args), publish_options(args)
    source = open_input(options.file)  # a missing file fails before anything connects
    # Short waits for room in a full queue, so a signal is seen within half a second.
    publisher = Publisher(settings, source="publish", buffer_full_timeout=0.5)
    run = FilePublish(publisher, grace=settings.shutdown_grace_seconds,
                      undelivered_path=options.undelivered_file)
    outcome = run.run(source)
    return report(outcome, publisher, sys.stderr, options.strict)


# -- consume ----------------------------------------------------------------------------------

def consume_options(args: argparse.Namespace) -> ConsumeOptions:
    return ConsumeOptions(topics=tuple(args.topic), from_beginning=args.from_beginning,
                          max_records=args.max, idle_timeout=args.timeout, raw=args.raw,
                          original=args.original)


def cmd_consume(args: argparse.Namespace) -> int:
    from .deadletter import DETAIL, ORIGIN, REASON, SOURCE, header_value
    from .reader import read_topics
    from .serde import AvroCodec

    settings, options = settings_from(args), consume_options(args)
    codec = AvroCodec(settings)
    out: TextIO = sys.stdout
    bad = 0
    for msg in read_topics(settings, list(options.topics), from_beginning=options.from_beginning,
                           max_records=options.max_records, idle_timeout=options.idle_timeout):
        value = msg.value() or b""
        dead_letters = msg.topic() == settings.dlq_topic
        if options.raw or (dead_letters and options.original):
            out.write(value.decode("utf-8", errors="replace") + "\n")
        elif dead_letters:
            headers = msg.headers()
            out.write(json.dumps({
                "reason": header_value(headers, REASON), "detail": header_value(headers, DETAIL),
                "source": header_value(headers, SOURCE), "origin": header_value(headers, ORIGIN),
                "original": value.decode("utf-8", errors="replace")}) + "\n")
        else:
            try:
                out.write(json.dumps(codec.decode(value), ensure_ascii=False) + "\n")
            except InvalidNotification as exc:
                bad += 1
                print(f"{msg.topic()}/{msg.partition()}/{msg.offset()}: cannot decode: {exc}",
                      file=sys.stderr)
        out.flush()
    return EXIT_DEAD_LETTERS if bad else EXIT_OK


# -- bridge -----------------------------------------------------------------------------------

def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


#: Options of one source only (their defaults are None, so "given" is known); the defaults
#: themselves are the fields' of TapOptions and BridgeOptions.
_RABBIT_ONLY = ("exchange", "topics", "priorities", "pool", "batch_timeout", "connect_timeout",
                "config_file")
_KAFKA_ONLY = ("source_topics", "group_id", "source_bootstrap_servers")


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _flags(names: dict[str, Any]) -> str:
    return ", ".join("--" + name.replace("_", "-") for name in names)


def bridge_options(args: argparse.Namespace, settings: Settings) -> BridgeCommand:
    """Kafka source by default; an oslo.messaging transport URL (flag, GLANCE_KAFKA_TRANSPORT_URL
    or GLANCE_KAFKA_TRANSPORT_URL_FILE) makes it the RabbitMQ tap. An option of the other source
    is refused rather than ignored."""
    url = args.transport_url or (
        settings.transport_url.get_secret_value() if settings.transport_url else None)
    rabbit, kafka = _given(args, _RABBIT_ONLY), _given(args, _KAFKA_ONLY)
    shared = {"publisher_prefix": args.publisher_prefix}
    if args.batch_size is not None:
        shared["batch_size"] = args.batch_size
    source: Any
    if url:
        if kafka:
            raise ConfigurationError(
                f"{_flags(kafka)}: Kafka source options, but a transport URL (--transport-url "
                "or GLANCE_KAFKA_TRANSPORT_URL[_FILE]) makes the bridge read RabbitMQ")
        from .rabbit import TapOptions

        source = TapOptions(transport_url=url, **rabbit, **shared)
    else:
        if rabbit:
            raise ConfigurationError(
                f"{_flags(rabbit)}: RabbitMQ source options, which need a transport URL "
                "(--transport-url or GLANCE_KAFKA_TRANSPORT_URL[_FILE])")
        from .bridge import BridgeOptions

        source = BridgeOptions(**kafka, **shared)
    return BridgeCommand(source=source, host=args.host, metrics_port=args.metrics_port)


def cmd_bridge(args: argparse.Namespace) -> int:
    require("bridge")
    settings = settings_from(args)
    return run_bridge(settings, bridge_options(args, settings))


def run_bridge(settings: Settings, options: BridgeCommand) -> int:
    from prometheus_client import CollectorRegistry

    from .bridge import Bridge, BridgeOptions
    from .http import StatusServer

    registry = CollectorRegistry()
    runner: Any
    if isinstance(options.source, BridgeOptions):
        runner = Bridge(settings, options.source, registry=registry)
        ready: Callable[[], bool] = lambda: runner.assigned  # noqa: E731
    else:
        from .rabbit import RabbitTap

        runner = RabbitTap(settings, options.source, registry=registry)
        ready = lambda: runner.listening  # noqa: E731
    server = None
    if options.metrics_port is not None:
        server = StatusServer(options.host, options.metrics_port, registry, ready=ready,
                              healthy=runner.healthy).start()
        print(f"bridge metrics on http://{options.host}:{server.port}/metrics", file=sys.stderr)
    _stop_on_signals(runner.stop)
    try:
        runner.run()
    finally:
        if server:
            server.stop()
    return EXIT_OK


# -- stream and demo live in streams/ ---------------------------------------------------------

def stream_options(args: argparse.Namespace) -> StreamOptions:
    return StreamOptions(host=args.host, metrics_port=args.metrics_port, web_port=args.web_port,
                         data_dir=args.data_dir, project_label_limit=args.project_label_limit,
                         verbose=args.verbose)


def cmd_stream(args: argparse.Namespace) -> int:
    require("streams")
    from streams.worker import run_worker

    return run_worker(settings_from(args), stream_options(args))


def demo_options(args: argparse.Namespace) -> DemoOptions:
    return DemoOptions(
        duration=args.duration, rate=args.rate, projects=args.projects,
        images_per_project=args.images_per_project, seed=args.seed,
        embedded_broker=not args.bootstrap_servers, broker_port=args.broker_port,
        metrics_port=args.metrics_port, web_port=args.web_port, live=not args.no_live)


def cmd_demo(args: argparse.Namespace) -> int:
    require("demo")
    from streams.demo import run_demo

    return run_demo(settings_from(args), demo_options(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glance-kafka", description="OpenStack Glance notifications as Avro Kafka streams.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (memory storage)")
    p.add_argument("--port", type=_port, default=9092, help="listen port (default 9092)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--create-topics", action="store_true", help="create the pipeline topics")
    p.add_argument("--topic-prefix", default=None, help="prefix for --create-topics")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("topics", help="create the per-type, catch-all and dead-letter topics")
    _common(p)
    p.add_argument("--partitions", type=_positive(int), default=4)
    p.add_argument("--replication-factor", type=_positive(int), default=1)
    p.add_argument("--timeout", type=_positive(float), default=30.0,
                   help="seconds to wait for Kafka (default 30)")
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("publish", help="publish JSON lines (notifications or oslo envelopes)")
    _common(p)
    p.add_argument("file", nargs="?", default="-", help="file of JSON lines, or - for stdin")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if any line was dead-lettered (default: exit 0, report them)")
    p.add_argument("--grace", type=_not_negative, default=None, metavar="SECONDS",
                   help="on SIGTERM/Ctrl-C, wait this long for records in flight, then write "
                        "the rest to --undelivered-file (default 10; "
                        "GLANCE_KAFKA_SHUTDOWN_GRACE_SECONDS)")
    p.add_argument("--undelivered-file", metavar="PATH", default=None,
                   help="where lines Kafka did not confirm are written, to publish again "
                        "(default: glance-kafka-undelivered-<time>-<pid>.jsonl here)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("consume", help="print a topic's records as JSON lines")
    _common(p)
    p.add_argument("--topic", required=True, action="append",
                   help="topic to read (repeatable)")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--max", type=_positive(int), default=None, help="stop after N records")
    p.add_argument("--timeout", type=_positive(float), default=5.0,
                   help="stop after this many seconds without a new record (default 5)")
    p.add_argument("--raw", action="store_true", help="print values undecoded")
    p.add_argument("--original", action="store_true",
                   help="dead-letter topic: print only the original values, ready to re-publish")
    p.set_defaults(func=cmd_consume)

    p = sub.add_parser("bridge", help="republish Glance events from RabbitMQ (--transport-url) "
                       "or from oslo.messaging's Kafka topics")
    _common(p)
    p.add_argument("--publisher-prefix", default="image.",
                   help="keep notifications whose publisher_id starts with this (Glance: image.)")
    p.add_argument("--batch-size", type=_positive(int), default=None,
                   help="messages per batch, acknowledged together (default: 500 rabbit, 1000 kafka)")
    rabbit = p.add_argument_group(
        "RabbitMQ source (the tap: oslo.messaging's batch notification listener, in its own pool)")
    rabbit.add_argument("--transport-url", metavar="URL", default=None,
                        help="oslo.messaging transport URL, e.g. rabbit://user:pass@h1:5672,"
                             "user:pass@h2:5672/vhost (better: GLANCE_KAFKA_TRANSPORT_URL or "
                             "GLANCE_KAFKA_TRANSPORT_URL_FILE, which keep the password out of ps)")
    rabbit.add_argument("--exchange", default=None,
                        help="control exchange Glance sends to (default: glance)")
    rabbit.add_argument("--topics", type=_comma_list, default=None,
                        help="comma-separated notification topics, as Glance's "
                             "[oslo_messaging_notifications] topics (default: notifications)")
    rabbit.add_argument("--priorities", type=_comma_list, default=None,
                        help="comma-separated priorities to listen to (default: all of "
                             "audit,debug,info,warn,error,critical,sample)")
    rabbit.add_argument("--pool", default=None,
                        help="listener pool: the tap's own queue, so it never takes Ceilometer's "
                             "messages (default: glance-kafka)")
    rabbit.add_argument("--batch-timeout", type=_positive(float), default=None,
                        help="seconds to wait for a full batch (default 1)")
    rabbit.add_argument("--connect-timeout", type=_positive(float), default=None,
                        help="give up with an error if RabbitMQ cannot be reached within this "
                             "many seconds at start (default 30)")
    rabbit.add_argument("--config-file", default=None, metavar="FILE",
                        help="oslo.config file for [oslo_messaging_rabbit] options (ssl, "
                             "ssl_ca_file, ssl_cert_file, ssl_key_file, amqp_durable_queues, "
                             "heartbeat_timeout_threshold, ...)")
    kafka = p.add_argument_group("Kafka source (oslo.messaging's Kafka driver topics; the default)")
    kafka.add_argument("--source-topics", type=_comma_list, default=None,
                       help="comma-separated oslo.messaging topics (default: notifications.info,"
                            "notifications.warn,notifications.error)")
    kafka.add_argument("--source-bootstrap-servers", default=None,
                       help="read the oslo topics from another cluster")
    kafka.add_argument("--group-id", default=None,
                       help="consumer group of the bridges (default: glance-kafka-bridge)")
    p.add_argument("--metrics-port", type=_port, default=None)
    p.add_argument("--host", default="127.0.0.1", help="address for --metrics-port")
    p.set_defaults(func=cmd_bridge)

    p = sub.add_parser("stream", help="run a stream worker: aggregates, /metrics, JSON views")
    _common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--metrics-port", type=_port, default=9108)
    p.add_argument("--web-port", type=_port, default=6066)
    p.add_argument("--data-dir", default=None, help="Faust data directory")
    p.add_argument("--project-label-limit", type=int, default=1000,
                   help="distinct project labels before the rest fold into project=\"_other\"")
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("demo", help="the whole pipeline on the embedded broker, with live traffic")
    _common(p)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default 60)")
    p.add_argument("--rate", type=float, default=500.0,
                   help="notifications per second (default 500)")
    p.add_argument("--projects", type=_positive(int), default=40, help="projects in the simulated cloud")
    p.add_argument("--images-per-project", type=int, default=3,
                   help="private images per project (plus a public base catalogue)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--broker-port", type=_port, default=None,
                   help="embedded broker port (default 9092)")
    p.add_argument("--metrics-port", type=_port, default=9108)
    p.add_argument("--web-port", type=_port, default=6066)
    p.add_argument("--no-live", action="store_true", help="no live view (logs only)")
    p.set_defaults(func=cmd_demo)
    for command in [parser, *sub.choices.values()]:
        command.epilog = EXIT_EPILOG
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(getattr(args, "verbose", 0), 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except Exception as exc:  # one line, with the exit code of its class; -v adds the traceback
        return _fail(args, exc)


def _fail(args: argparse.Namespace, exc: Exception) -> int:
    if isinstance(exc, KafkaException):
        servers = getattr(args, "bootstrap_servers", None) or load_settings().bootstrap_servers
        exc = from_kafka(exc, f"Kafka at {servers}")
    if isinstance(exc, GlanceKafkaError):
        line, code = str(exc), exc.exit_code
    else:  # a bug: say so in one line; the traceback is for -v
        line, code = (f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)",
                      GlanceKafkaError.exit_code)
    if getattr(args, "verbose", 0):
        log.error("traceback", exc_info=exc)
    print(f"glance-kafka {args.command}: error: {line}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
