"""Micro-benchmark of the stream worker's per-event hot path: `Aggregator.apply`, no Kafka.

    .venv/bin/python bench/_apply_micro.py [--n 100000] [--batch 5000] [--inventory]
                                           [--profile] [--dump FILE | --check FILE]

The backlog is what bench/aggregate.py publishes: --n simulated notifications (200 projects)
plus ~1% re-deliveries (same message_id), encoded in-process by AvroCodec.encode (the
publisher's encode path), keyed as the publisher keys them and spread over 4 partitions with
per-(topic, partition) offsets. Each round applies the whole backlog, --batch records at a
time, to a fresh plain dict; the best round is reported in events (records) per second.
--dump/--check write or compare the resulting table, to show an optimisation changes nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import pickle
import pstats
import random
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from producers.config import Settings  # noqa: E402
from producers.serde import AvroCodec  # noqa: E402
from streams.aggregates import Aggregator, SourceRecord  # noqa: E402
from streams.demo.simulator import TrafficGenerator, inject_duplicates  # noqa: E402
from streams.inventory import Inventory  # noqa: E402

SETTINGS = Settings(bootstrap_servers="127.0.0.1:1")
PARTITIONS = 4


def backlog(n: int) -> list[SourceRecord]:
    gen = TrafficGenerator(seed=7, projects=200, images=3, rate=200.0)  # as bench/_common.py
    stream = inject_duplicates(gen.next_batch(n), 0.01, random.Random(5))
    codec = AvroCodec(SETTINGS)
    offsets: Counter[tuple[str, int]] = Counter()
    out = []
    for notification in stream:
        encoded = codec.encode(notification)
        partition = zlib.crc32(encoded.key or b"") % PARTITIONS
        offset = offsets[(encoded.topic, partition)]
        offsets[(encoded.topic, partition)] += 1
        out.append(SourceRecord(encoded.topic, partition, offset, encoded.value, encoded.key))
    return out


def run(records: list[SourceRecord], batch: int, inventory: bool) -> tuple[float, dict]:
    table: dict = {}
    codec = AvroCodec(SETTINGS)
    aggregator = Aggregator(table, codec, observers=[Inventory(table)] if inventory else ())
    codec.decode_record(records[0].value)  # schema lookups out of the timing
    batches = [records[i:i + batch] for i in range(0, len(records), batch)]
    start = time.perf_counter()
    for chunk in batches:
        aggregator.apply(chunk)
    return time.perf_counter() - start, table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--inventory", action="store_true", help="with the Inventory observer")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--check", type=Path)
    args = parser.parse_args()

    records = backlog(args.n)
    dups = len(records) - args.n
    print(f"{len(records):,} records ({dups:,} re-deliveries), {PARTITIONS} partitions, "
          f"batches of {args.batch:,}{', with Inventory' if args.inventory else ''}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run(records, args.batch, args.inventory)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
        return
    best, table = float("inf"), {}
    for _ in range(args.rounds):
        seconds, table = run(records, args.batch, args.inventory)
        best = min(best, seconds)
        print(f"  {len(records) / seconds:>10,.0f} events/s")
    print(f"best: {len(records) / best:,.0f} events/s ({best * 1e6 / len(records):.2f} µs/event)")
    if args.dump:
        args.dump.write_bytes(pickle.dumps(table))
    if args.check:
        expected = pickle.loads(args.check.read_bytes())  # noqa: S301 - our own file
        assert table == expected, "table differs from the dumped one"
        print(f"table identical to {args.check} ({len(table):,} rows)")


if __name__ == "__main__":
    main()
