"""The Quix Streams baseline for bench/aggregate.py; runs in its own venv (bench/.venv-quix).

    bench/.venv-quix/bin/python bench/_quix_sums.py BOOTSTRAP PREFIX STATE_DIR

Quix Streams pins confluent-kafka below the version this project needs, so it cannot share the
project's venv; this script therefore imports nothing from the project. It reads the schemas
from avro/ itself, decodes the Confluent framing with fastavro, and does the same sums as the
stream worker (bytes served and downloaded per project and outcome, downloads, task events,
notifications by type and priority, duplicates by message_id) in a dict, one Quix
StreamingDataFrame per source topic. Prints "<events> <monotonic seconds>" every 0.25 s.
"""

from __future__ import annotations

import json
import struct
import sys
import threading
import time
from collections import defaultdict
from io import BytesIO
from pathlib import Path

import fastavro
from quixstreams import Application

ROOT = Path(__file__).resolve().parent.parent
TYPES = ("image.create", "image.prepare", "image.upload", "image.activate", "image.send",
         "image.update", "image.delete", "task.run", "task.processing", "task.success",
         "task.failure")


def main() -> None:
    bootstrap, prefix, state_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    manifest = json.loads((ROOT / "avro" / "manifest.json").read_text())
    schemas = {e["id"]: fastavro.parse_schema(json.loads((ROOT / "avro" / e["file"]).read_text()))
               for e in manifest["schemas"]}
    sums: dict[tuple[str, ...], int] = defaultdict(int)
    seen: set[str] = set()
    count = [0]

    def apply(value: bytes) -> None:
        schema_id = struct.unpack(">I", value[1:5])[0]
        record = fastavro.schemaless_reader(BytesIO(value[5:]), schemas[schema_id], None)
        count[0] += 1
        message_id = record["message_id"]
        if message_id in seen:
            sums[("duplicates",)] += 1
            return
        seen.add(message_id)
        event_type, priority, payload = record["event_type"], record["priority"], record["payload"]
        sums[("notifications", event_type, priority)] += 1
        if event_type == "image.send" and isinstance(payload, dict) and priority != "WARN":
            outcome = "complete" if priority == "INFO" else "partial"
            sent = payload["bytes_sent"]
            sums[("served", payload.get("owner_id") or "_unknown", outcome)] += sent
            sums[("downloaded", payload.get("receiver_tenant_id") or "_unknown", outcome)] += sent
            sums[("downloads", outcome)] += 1
        elif event_type.startswith("task.") and isinstance(payload, dict):
            task_type = payload.get("type") or payload.get("task_type") or "_unknown"
            sums[("task_events", task_type, payload.get("status") or "")] += 1

    app = Application(broker_address=bootstrap, consumer_group=f"{prefix}quix-{int(time.time())}",
                      auto_offset_reset="earliest", state_dir=state_dir, use_changelog_topics=False,
                      consumer_extra_config={"session.timeout.ms": 6000})
    for event_type in TYPES + ("other",):
        topic = app.topic(f"{prefix}{event_type}", value_deserializer="bytes",
                          key_deserializer="bytes")
        app.dataframe(topic).update(apply)

    def report() -> None:
        while True:
            print(f"{count[0]} {time.monotonic()}", flush=True)
            time.sleep(0.25)

    threading.Thread(target=report, daemon=True).start()
    app.run()


if __name__ == "__main__":
    main()
