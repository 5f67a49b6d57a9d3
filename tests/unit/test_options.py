"""The command line becomes typed options once, in cli.py; nothing below it reads argparse."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from producers import options
from producers.bridge import BridgeOptions
from producers.cli import (
    bridge_options,
    broker_options,
    build_parser,
    consume_options,
    demo_options,
    publish_options,
    stream_options,
    topics_options,
)
from producers.config import Settings
from producers.rabbit import TapOptions
from producers.topics import pipeline_topics

ROOT = Path(__file__).resolve().parents[2]


def _args(*argv: str):  # noqa: ANN202 - an argparse.Namespace, which only this test file sees
    return build_parser().parse_args(list(argv))


def test_each_command_s_arguments_become_its_options() -> None:
    assert broker_options(_args("broker", "--port", "9300", "--create-topics")) == options.BrokerOptions(
        port=9300, host="127.0.0.1", create_topics=True, topic_prefix=None)
    assert topics_options(_args("topics", "--partitions", "8", "--timeout", "3")) == options.TopicsOptions(
        partitions=8, replication_factor=1, timeout=3.0)
    assert publish_options(_args("publish", "in.jsonl", "--strict", "--undelivered-file",
                                 "left.jsonl")) == options.PublishOptions(
        file="in.jsonl", strict=True, undelivered_file=Path("left.jsonl"))
    assert consume_options(_args("consume", "--topic", "a", "--topic", "b", "--max", "3",
                                 "--raw")) == options.ConsumeOptions(
        topics=("a", "b"), from_beginning=False, max_records=3, idle_timeout=5.0, raw=True,
        original=False)
    assert stream_options(_args("stream", "--metrics-port", "0", "--web-port", "7000", "-vv",
                                "--project-label-limit", "5")) == options.StreamOptions(
        host="127.0.0.1", metrics_port=0, web_port=7000, project_label_limit=5, verbose=2)
    assert demo_options(_args("demo", "--no-live", "--rate", "10")) == options.DemoOptions(
        rate=10.0, live=False, embedded_broker=True)
    assert demo_options(_args("demo", "--bootstrap-servers", "k:9092")).embedded_broker is False


def test_options_are_frozen() -> None:
    topics = options.TopicsOptions()
    with pytest.raises(AttributeError):
        topics.partitions = 2  # type: ignore[misc]


def test_bridge_source_follows_the_transport_url() -> None:
    settings = Settings(bootstrap_servers="127.0.0.1:1")
    kafka = bridge_options(_args("bridge", "--source-topics", "n.info,n.warn", "--group-id", "g",
                                 "--metrics-port", "0"), settings)
    assert kafka == options.BridgeCommand(source=BridgeOptions(
        source_topics=("n.info", "n.warn"), group_id="g", batch_size=1000), metrics_port=0)
    tap = bridge_options(_args("bridge", "--transport-url", "rabbit://u:p@h:5672/",
                               "--topics", "a,b"), settings)
    assert tap.source == TapOptions(transport_url="rabbit://u:p@h:5672/", topics=("a", "b"),
                                    batch_size=500)


def test_the_pipeline_topics_are_every_manifest_type_then_other_then_dead_letters() -> None:
    manifest = json.loads((ROOT / "avro" / "manifest.json").read_text())
    types = {entry["event_type"] for entry in manifest["schemas"]} - {"*"}
    topics = pipeline_topics(Settings(topic_prefix="p."))
    assert sorted(topics[:-2]) == sorted(f"p.{t}" for t in types)
    assert topics[-2:] == ["p.other", "p.dlq"]


def test_no_module_below_the_cli_reads_argparse() -> None:
    readers = []
    for package in ("producers", "streams"):
        for path in sorted((ROOT / package).glob("*.py")):
            if path.name == "cli.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(name.split(".")[0] == "argparse" for name in names):
                    readers.append(path.name)
                if isinstance(node, ast.Attribute) and node.attr == "Namespace":
                    readers.append(path.name)
    assert readers == []
