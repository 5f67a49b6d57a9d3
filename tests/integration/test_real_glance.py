"""A real glance-api, driven over HTTP, through each way its notifications can reach the pipeline.

The same scenario runs against Glance 33 under uWSGI (tests/glance_api.py) for each way in:

1. this package's ``kafka-avro`` driver inside glance-api;
2. Glance on ``messagingv2`` over rabbit, read by the RabbitMQ tap (``glance-kafka bridge
   --transport-url rabbit://...``);
3. Glance on oslo.messaging's own Kafka driver, read by the Kafka bridge.

What Glance emitted is recorded independently of the code under test: in ways 1 and 3 by
oslo.messaging's own Kafka driver (``messagingv2`` over ``kafka://``, a second driver beside
``kafka-avro`` in way 1), read back as plain JSON; in way 2 by a plain oslo.messaging listener in
a pool of its own. Expected totals are plain sums over those records (tests/expected.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from producers.broker import EmbeddedBroker, free_port
from producers.config import Settings
from producers.reader import read_topics
from tests.expected import expected_totals
from tests.glance_api import GlanceAPI, MiB, Project
from tests.integration.oslo_support import topic_of
from tests.integration.test_rabbit_tap import _ready as tap_ready
from tests.integration.test_stream_metrics import METRIC_OF
from tests.kafka_helpers import all_pipeline_records
from tests.processes import ROOT, Worker, total, wait_for
from tests.unit.test_codec import assert_same_notification

pytestmark = pytest.mark.slow

PRIORITIES = ("info", "warn", "error")
#: What the worker must match exactly, by metric (tests/expected.py's kinds).
CHECKED = ("served", "downloaded", "downloads", "task_events", "task_failures")


@dataclass
class Scenario:
    """What the test did to Glance, and what Glance's API said about it."""

    owners: tuple[Project, Project] = field(default_factory=lambda: (Project(), Project()))
    consumer: Project = field(default_factory=Project)
    images: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_scenario(api: GlanceAPI) -> Scenario:
    """Two owner projects, downloads from a third, an aborted download, a PATCH, a delete, one
    glance-direct import that succeeds and one that fails, one image left staged."""
    s = Scenario()
    acme, widgets = (api.client(p) for p in s.owners)
    consumer = api.client(s.consumer)

    for client, name, size in ((acme, "alpha", 3 * MiB + 123), (widgets, "beta", 5 * MiB + 7),
                               (acme, "big", 24 * MiB)):
        image = client.create_image(name, visibility="community")
        client.upload(image["id"], size)
        s.images[name] = image["id"]
    for _ in range(3):
        assert consumer.download(s.images["alpha"]) == 3 * MiB + 123
    for _ in range(2):
        assert consumer.download(s.images["beta"]) == 5 * MiB + 7
    assert acme.download(s.images["beta"]) == 5 * MiB + 7

    imported = widgets.create_image("imported", visibility="community")
    widgets.stage(imported["id"], 2 * MiB + 11)
    widgets.import_image(imported["id"])
    s.tasks["ok"] = widgets.wait_for_task(imported["id"])
    # qcow2 claimed, raw data staged: the import flow's format check fails it (task.failure)
    mismatch = widgets.create_image("mismatch", disk_format="qcow2")
    widgets.stage(mismatch["id"], MiB + 5)
    widgets.import_image(mismatch["id"])
    s.tasks["failed"] = widgets.wait_for_task(mismatch["id"])
    assert (s.tasks["ok"]["status"], s.tasks["failed"]["status"]) == ("success", "failure")
    staged = acme.create_image("staged-only")
    acme.stage(staged["id"], 3 * MiB)
    s.images.update(imported=imported["id"], mismatch=mismatch["id"], staged=staged["id"])

    # Larger than the socket buffers, so Glance really sees the client go away.
    assert consumer.abort_download(s.images["big"], MiB) == MiB
    acme.set_property(s.images["alpha"], "os_distro", "debian")
    widgets.delete(s.images["beta"])
    return s


# --------------------------------------------------------------------------- independent record


def oslo_kafka_topics(topic: str) -> list[str]:
    return [f"{topic}.{priority}" for priority in PRIORITIES]


def read_oslo_kafka(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """What oslo.messaging's Kafka driver wrote: its 2.0 wire envelopes, unwrapped."""
    out = []
    for message in read_topics(settings, oslo_kafka_topics(topic), from_beginning=True,
                               idle_timeout=1.0, skip_missing=True):
        envelope = json.loads(message.value())
        inner = json.loads(envelope["oslo.message"])
        out.append({k: inner[k] for k in ("message_id", "publisher_id", "event_type", "priority",
                                          "payload", "timestamp")})
    return out


def wait_for_record(read: Any, scenario: Scenario, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The independent record once it holds the last thing the scenario did (image.delete)."""
    def complete() -> list[dict[str, Any]] | None:
        emitted = read()
        deleted = {n["payload"].get("id") for n in emitted if n["event_type"] == "image.delete"}
        return emitted if scenario.images["beta"] in deleted else None
    return wait_for(complete, timeout, "Glance's notifications in the independent record")


# --------------------------------------------------------------------------- checks


def check_topics(settings: Settings, emitted: list[dict[str, Any]], timeout: float = 60.0) -> None:
    """Every notification Glance emitted is on its per-type topic, once per message_id after
    dedupe, with the values Glance sent; nothing else is there and nothing was dead-lettered."""
    from producers.serde import AvroCodec

    by_id = {n["message_id"]: n for n in emitted}
    assert len(by_id) == len(emitted), "Glance sent a message_id twice"
    codec = AvroCodec(settings)

    def delivered() -> dict[str, Any] | None:
        records = all_pipeline_records(settings)
        return records if sum(map(len, records.values())) >= len(by_id) else None

    records = wait_for(delivered, timeout, "the pipeline topics to hold every notification")
    assert records[settings.dlq_topic] == []
    seen: dict[str, set[str]] = {}
    for topic, messages in records.items():
        for message in messages:
            got = codec.decode(message.value())
            original = by_id[got["message_id"]]  # KeyError: not something Glance sent
            assert_same_notification(got, original)
            seen.setdefault(got["message_id"], set()).add(topic)
    assert set(seen) == set(by_id)
    for message_id, topics in seen.items():
        assert topics == {topic_of(settings, by_id[message_id]["event_type"])}


def check_worker(worker: Worker, emitted: list[dict[str, Any]], scenario: Scenario) -> None:
    """The worker's byte and task totals equal plain sums over what Glance reported."""
    expected = expected_totals(emitted)
    served = sum(expected["served"].values())
    assert served > 0 and sum(expected["downloaded"].values()) == served

    def differences() -> dict[str, tuple[Any, Any]]:
        metrics = worker.metrics()
        out = {}
        for kind in CHECKED:
            name, labels = METRIC_OF[kind]
            got = {tuple(dict(k)[label] for label in labels): v
                   for k, v in metrics.get(name, {}).items() if v}
            want = {k: float(v) for k, v in expected[kind].items()}
            if got != want:
                out[name] = (got, want)
        return out

    try:
        wait_for(lambda: not differences(), 90, "the worker's totals to equal Glance's", worker)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n(got, expected): {differences()}") from None
    # The failed import is the one task failure, counted against its owner.
    failures = [n for n in emitted if n["event_type"] == "task.failure"]
    assert [n["payload"]["id"] for n in failures] == [scenario.tasks["failed"]["id"]]
    metrics = worker.metrics()
    assert total(metrics, "glance_task_failures_total",
                 project=scenario.owners[1].project_id) == 1


# --------------------------------------------------------------------------- the ways in


def check_inventory(worker: Worker, api: GlanceAPI, scenario: Scenario) -> None:
    """Stored and staged bytes per project equal Glance's own quota accounting of its database."""
    for project in (*scenario.owners, scenario.consumer):
        usage = api.usage(project.project_id)
        want = {"stored": usage["stored"], "staged": usage["staged"], "images": usage["images"]}

        def got(pid: str = project.project_id) -> dict[str, float]:
            metrics = worker.metrics()
            return {"stored": total(metrics, "glance_project_stored_bytes", project=pid),
                    "staged": total(metrics, "glance_project_staged_bytes", project=pid),
                    "images": total(metrics, "glance_project_images", project=pid)}

        try:
            wait_for(lambda w=want, g=got: g() == w, 30, "inventory equal to Glance's usage", worker)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ngot {got()}, Glance {want}") from None
    assert api.usage(scenario.owners[0].project_id)["staged"] == 3 * MiB  # the staged-only image


def _settings(broker: EmbeddedBroker) -> Settings:
    return Settings(bootstrap_servers=broker.bootstrap_servers,
                    topic_prefix=f"g{uuid.uuid4().hex[:8]}.glance.")


def _start_worker(settings: Settings, tmp_path: Path) -> Worker:
    return Worker(settings, tmp_path).start()


def test_kafka_avro_driver_inside_glance_api(broker: EmbeddedBroker, glance_api, tmp_path: Path
                                             ) -> None:
    """Way 1: Glance loads this package's driver; oslo's Kafka driver beside it keeps the record."""
    settings = _settings(broker)
    oslo_topic = f"record{uuid.uuid4().hex[:8]}"
    worker = _start_worker(settings, tmp_path)
    try:
        api = glance_api(notifications={
            "driver": ["kafka-avro", "messagingv2"], "topics": oslo_topic,
            "transport_url": f"kafka://{broker.bootstrap_servers}/"},
            extra_config={"glance_kafka": {"bootstrap_servers": broker.bootstrap_servers,
                                           "topic_prefix": settings.topic_prefix}})
        scenario = run_scenario(api)
        emitted = wait_for_record(lambda: read_oslo_kafka(settings, oslo_topic), scenario)
        check_topics(settings, emitted)
        worker.wait_ready()
        check_worker(worker, emitted, scenario)
        check_inventory(worker, api, scenario)
        pids = [api.process.pid, *(p.pid for p in api.worker_processes())]
        api.stop()
        assert not [pid for pid in pids if _alive(pid)], "glance-api left processes behind"
    finally:
        worker.stop()


def test_oslo_kafka_driver_then_bridge(broker: EmbeddedBroker, glance_api, tmp_path: Path) -> None:
    """Way 3: Glance on messagingv2 over kafka://, the Kafka bridge republishes."""
    settings = _settings(broker)
    oslo_topic = f"notifications{uuid.uuid4().hex[:8]}"
    worker = _start_worker(settings, tmp_path)
    log = open(tmp_path / "bridge.log", "ab")  # noqa: SIM115 - the child's stdout
    bridge = subprocess.Popen(
        [sys.executable, "-m", "producers", "bridge", "--bootstrap-servers",
         broker.bootstrap_servers, "--topic-prefix", settings.topic_prefix,
         "--source-topics", ",".join(oslo_kafka_topics(oslo_topic)),
         "--group-id", f"bridge-{uuid.uuid4().hex[:8]}", "--metrics-port", str(free_port())],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        api = glance_api(notifications={
            "driver": "messagingv2", "topics": oslo_topic,
            "transport_url": f"kafka://{broker.bootstrap_servers}/"})
        scenario = run_scenario(api)
        emitted = wait_for_record(lambda: read_oslo_kafka(settings, oslo_topic), scenario)
        check_topics(settings, emitted, timeout=90)
        worker.wait_ready()
        check_worker(worker, emitted, scenario)
        check_inventory(worker, api, scenario)
    finally:
        if bridge.poll() is None:
            bridge.terminate()
            bridge.wait(timeout=30)
        worker.stop()


class RecordingListener:
    """A plain oslo.messaging notification listener in a pool of its own: every message Glance
    sent over rabbit, rebuilt as the notification dict (the priority is the endpoint called)."""

    def __init__(self, url: str, topic: str) -> None:
        import oslo_messaging
        from oslo_config import cfg

        self.messages: list[dict[str, Any]] = []
        self.transport = oslo_messaging.get_notification_transport(cfg.ConfigOpts(), url=url)

        def endpoint_for(priority: str) -> Any:
            def record(messages: list[dict[str, Any]]) -> None:
                self.messages.extend(
                    {"message_id": m["metadata"]["message_id"], "publisher_id": m["publisher_id"],
                     "event_type": m["event_type"], "priority": priority.upper(),
                     "payload": m["payload"], "timestamp": m["metadata"]["timestamp"]}
                    for m in messages)
            return staticmethod(record)

        endpoint = type("Recorder", (), {p: endpoint_for(p) for p in PRIORITIES})
        self.server = oslo_messaging.get_batch_notification_listener(
            self.transport, [oslo_messaging.Target(exchange="glance", topic=topic)], [endpoint()],
            pool=f"record-{uuid.uuid4().hex[:8]}", batch_size=100, batch_timeout=0.2)
        self.server.start()

    def close(self) -> None:
        self.server.stop()
        self.server.wait()
        self.transport.cleanup()


def test_messagingv2_over_rabbit_then_the_tap(broker: EmbeddedBroker, rabbitmq: Any, glance_api,
                                              tmp_path: Path) -> None:
    """Way 2: Glance unchanged on messagingv2 over rabbit; the RabbitMQ tap republishes."""
    settings = _settings(broker)
    topic = f"notifications{uuid.uuid4().hex[:8]}"
    worker = _start_worker(settings, tmp_path)
    metrics_port = free_port()
    log = open(tmp_path / "tap.log", "ab")  # noqa: SIM115 - the child's stdout
    tap = subprocess.Popen(
        [sys.executable, "-m", "producers", "bridge", "--transport-url", rabbitmq.transport_url,
         "--bootstrap-servers", broker.bootstrap_servers, "--topic-prefix", settings.topic_prefix,
         "--topics", topic, "--metrics-port", str(metrics_port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    recorder = RecordingListener(rabbitmq.transport_url, topic)
    try:
        wait_for(lambda: tap_ready(metrics_port), 60, "the tap listening")
        api = glance_api(notifications={"driver": "messagingv2", "topics": topic,
                                        "transport_url": rabbitmq.transport_url})
        scenario = run_scenario(api)
        emitted = wait_for_record(lambda: list(recorder.messages), scenario)
        check_topics(settings, emitted, timeout=90)
        worker.wait_ready()
        check_worker(worker, emitted, scenario)
        check_inventory(worker, api, scenario)
    finally:
        recorder.close()
        if tap.poll() is None:
            tap.terminate()
            tap.wait(timeout=30)
        worker.stop()


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

