"""Image inventory rows: out-of-order, replayed and duplicated lifecycle events (no Kafka)."""

from __future__ import annotations

import random

from producers.serde import AvroCodec
from streams.aggregates import Aggregator
from streams.inventory import Inventory, project_gauges
from tests.lifecycle import lifecycle_history
from tests.source_log import SETTINGS
from tests.source_log import source_log as _log


def _gauges(table: dict) -> dict:
    return {name: +counter for name, counter in project_gauges(table.items(), lambda p: True).items()}


def _apply(table: dict, records) -> None:
    Aggregator(table, AvroCodec(SETTINGS), observers=[Inventory(table)]).apply(records)


def _interleave_topics(records, rng: random.Random) -> list:
    """Each topic-partition keeps its order; topics are consumed at different paces."""
    by_tp: dict = {}
    for record in records:
        by_tp.setdefault((record.topic, record.partition), []).append(record)
    queues = list(by_tp.values())
    out = []
    while queues:
        i = rng.randrange(len(queues))
        take = rng.randrange(1, 20)
        out += queues[i][:take]
        del queues[i][:take]
        if not queues[i]:
            queues.pop(i)
    return out


def test_gauges_equal_ground_truth_whatever_the_topic_interleaving() -> None:
    history, truth = lifecycle_history()
    log = _log(history)
    for seed in range(5):
        table: dict = {}
        _apply(table, _interleave_topics(log, random.Random(seed)))
        assert _gauges(table) == {k: +v for k, v in truth.items()}, seed


def test_replays_duplicates_and_lost_writes_change_nothing() -> None:
    history, truth = lifecycle_history(seed=12)
    duplicated = history + random.Random(1).sample(history, 100)  # redelivered later
    log = _interleave_topics(_log(duplicated), random.Random(3))
    table: dict = {}
    cut = len(log) // 2
    _apply(table, log[:cut])
    for key in list(table)[::4]:
        del table[key]  # writes lost in a crash: the worker restarts from the beginning
    _apply(table, log)
    _apply(table, log[cut - 50:])  # and replays part of it once more
    assert _gauges(table) == {k: +v for k, v in truth.items()}


def test_deleted_images_are_not_resurrected_by_late_events() -> None:
    history, _ = lifecycle_history(images=50, seed=4)
    deleted = {n["payload"]["id"] for n in history if n["event_type"] == "image.delete"}
    assert deleted
    late_first = sorted(history, key=lambda n: n["event_type"] != "image.delete")  # deletes first
    table: dict = {}
    _apply(table, _log(late_first))
    live = {row[0]["owner"] for key, row in table.items() if "|img|" in key and not row[0]["deleted"]}
    gone = [key for key, row in table.items() if "|img|" in key and key.split("|")[2] in deleted]
    assert gone and all(table[key][0]["deleted"] for key in gone)
    assert live
