"""The naive Faust baseline for bench/aggregate.py: one agent, one table increment per event.

    python bench/_faust_naive.py BOOTSTRAP PREFIX WEB_PORT [--no-table]

What a first Faust implementation looks like: iterate the stream event by event, decode, and
`table[key] += amount` for each sum (every assignment is a changelog record). Prints
"<events> <monotonic seconds>" to stdout every 0.25 s.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import faust  # noqa: E402

from producers.config import load_settings  # noqa: E402
from producers.serde import AvroCodec  # noqa: E402
from producers.topics import event_topics  # noqa: E402
from streams.rowplan import Plans  # noqa: E402


def main() -> None:
    bootstrap, prefix, web_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    use_table = "--no-table" not in sys.argv
    settings = load_settings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    codec = AvroCodec(settings)
    app = faust.App(f"{prefix}naive-{int(time.time())}", broker=f"kafka://{bootstrap}",
                    store="memory://", topic_partitions=4, broker_session_timeout=6,
                    broker_heartbeat_interval=1.0, consumer_auto_offset_reset="earliest",
                    web_bind="127.0.0.1", web_host="127.0.0.1", web_port=web_port,
                    datadir=tempfile.mkdtemp(prefix="bench-faust-naive-"), autodiscover=False)
    topics = list(event_topics(settings).values())
    source = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw")
    sums = app.Table("sums", default=int, partitions=4)
    count = [0]
    plans = Plans()

    @app.agent(source)
    async def aggregate(stream: faust.StreamT) -> None:
        async for event in stream.events():
            record, _ = codec.decode_record(event.message.value)
            if use_table:
                event_type = record["event_type"]
                keys, amounts = plans.for_event(event_type)(event.message, record, event_type, "")
                for key, amount in zip(keys, amounts, strict=True):
                    sums[key] += amount
            count[0] += 1

    @app.task
    async def report() -> None:
        while True:
            print(f"{count[0]} {time.monotonic()}", flush=True)
            await asyncio.sleep(0.25)

    worker = faust.Worker(app, loglevel="ERROR", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
