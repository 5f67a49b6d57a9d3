"""Exactness of the aggregate rows under replay, duplicates and lost writes (no Kafka needed)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from producers.serde import AvroCodec
from streams.aggregates import Aggregator, SourceRecord
from streams.collector import TableCollector, totals
from streams.rows import upload_failure_class
from tests.expected import expected_metric_sums
from tests.glance_events import glance_notifications
from tests.source_log import SETTINGS
from tests.source_log import source_log as _log

#: emit_glance_events makes the store raise StorageFull once and StorageWriteDenied once.
GLANCE_UPLOAD_FAILURES = {("storage_full",): 1, ("storage_write_denied",): 1}


def _sums(table) -> dict:
    return {name: dict(series) for name, series in totals(table.items(), lambda p: True).items()}


def _expected(notifications) -> dict:
    """Plain sums over what was sent (tests/expected.py), never the product's own aggregation."""
    expected = expected_metric_sums(notifications)
    failed_uploads = sum(n["event_type"] == "image.upload" and n["priority"] == "ERROR"
                         for n in notifications)
    if failed_uploads:
        assert failed_uploads == sum(GLANCE_UPLOAD_FAILURES.values())  # only Glance's own events
        expected["glance_image_upload_failures_total"] = dict(GLANCE_UPLOAD_FAILURES)
    return expected


def test_totals_match_what_glance_sent() -> None:
    sent = glance_notifications()
    got = _expected(sent)
    sends = [n for n in sent if n["event_type"] == "image.send"]
    complete = sum(n["payload"]["bytes_sent"] for n in sends if n["priority"] == "INFO")
    partial = sum(n["payload"]["bytes_sent"] for n in sends if n["priority"] == "ERROR")
    served = got["glance_image_served_bytes_total"]
    assert sum(v for k, v in served.items() if k[1] == "complete") == complete
    assert sum(v for k, v in served.items() if k[1] == "partial") == partial
    assert got["glance_image_downloads_total"] == {
        ("complete",): sum(n["priority"] == "INFO" for n in sends),
        ("partial",): sum(n["priority"] == "ERROR" for n in sends)}
    failures = [n for n in sent if n["event_type"] == "task.failure"]
    assert sum(got["glance_task_failures_total"].values()) == len(failures)
    assert sum(got["glance_notifications_total"].values()) == len(sent)
    uploads_failed = [n for n in sent if n["event_type"] == "image.upload" and n["priority"] == "ERROR"]
    assert sum(got["glance_image_upload_failures_total"].values()) == len(uploads_failed)


def test_replayed_batches_and_lost_writes_change_nothing() -> None:
    """A crash mid-write loses any subset of the last batch's row writes (those rows keep their
    value from before the batch); the restart replays from any offset at or before the last
    commit, which precedes that batch. Totals must be exact in every trial."""
    sent = glance_notifications()
    log = _log(sent)
    expected = _expected(sent)
    rng = random.Random(7)
    codec = AvroCodec(SETTINGS)
    lost_some = replayed_some = 0
    for trial in range(40):
        table: dict = {}
        committed = rng.randrange(0, len(log))
        crashed_at = rng.randrange(committed + 1, len(log) + 1)
        Aggregator(table, codec).apply(log[:committed])
        before = dict(table)
        Aggregator(table, codec).apply(log[committed:crashed_at])
        written = [key for key in table if table[key] != before.get(key)]
        for key in rng.sample(written, k=rng.randrange(0, len(written) + 1)):
            if key in before:
                table[key] = before[key]  # this write never reached the changelog
            else:
                del table[key]
            lost_some += 1
        replay = Aggregator(table, codec).apply(log[rng.randrange(0, committed + 1):])
        replayed_some += replay.replayed > 0
        got = _sums(table)
        assert got == expected, trial
    assert lost_some and replayed_some  # the trials did lose writes and did replay records


def test_full_replay_after_partial_loss_is_exact() -> None:
    sent = glance_notifications()
    log = _log(sent)
    table: dict = {}
    Aggregator(table, AvroCodec(SETTINGS)).apply(log[:20])
    for key in list(table)[::3]:
        del table[key]  # these writes were lost
    Aggregator(table, AvroCodec(SETTINGS)).apply(log)  # the worker restarts from offset 0
    assert _sums(table) == _expected(sent)


def test_a_record_handed_over_twice_in_one_batch_counts_once() -> None:
    """After a rebalance the consumer can re-fetch records still in the batch buffer."""
    sent = glance_notifications()
    log = _log(sent)
    table: dict = {}
    Aggregator(table, AvroCodec(SETTINGS)).apply(log[:10] + log[5:])
    assert _sums(table) == _expected(sent)


def test_duplicates_are_counted_once_and_reported() -> None:
    sent = glance_notifications()
    doubled = sent + sent[:10]
    table: dict = {}
    result = Aggregator(table, AvroCodec(SETTINGS)).apply(_log(doubled))
    got = _sums(table)
    dup = got.pop("glance_duplicates_skipped_total")
    assert dup == {(): 10} and result.duplicates == 10
    assert got == _expected(sent)


def test_duplicates_are_recognised_after_a_restart() -> None:
    sent = glance_notifications()
    log = _log(sent + sent[:5])
    table: dict = {}
    Aggregator(table, AvroCodec(SETTINGS)).apply(log[: len(sent)])
    Aggregator(table, AvroCodec(SETTINGS)).apply(log[len(sent):])  # fresh memory, same table
    got = _sums(table)
    assert got.pop("glance_duplicates_skipped_total") == {(): 5}
    assert got == _expected(sent)


def test_dedupe_window_is_bounded() -> None:
    sent = glance_notifications()
    table: dict = {}
    aggregator = Aggregator(table, AvroCodec(SETTINGS), dedupe_window=10)
    log = _log(sent)
    for record in log:
        aggregator.apply([record])
    ring_rows = [k for k in table if "|seen|" in k]
    per_partition = Counter(k.split("|")[0] for k in ring_rows)
    assert all(n <= 11 for n in per_partition.values())


def test_undecodable_records_are_handed_back_once_and_dead_letters_counted_from_the_dlq() -> None:
    from producers.deadletter import dead_letter_headers

    log = _log(glance_notifications()[:3])
    bad = [SourceRecord(log[0].topic, 0, 100 + i, value) for i, value in
           enumerate([b"", b"\x00\x00\x00\x00", b"\x00\x00\x00\x99\x99\x02", None])]
    table: dict = {}
    aggregator = Aggregator(table, AvroCodec(SETTINGS))
    first = aggregator.apply(log + bad)
    again = aggregator.apply(bad)  # replayed: not handed back again
    assert len(first.dead_letters) == 4 and not again.dead_letters
    assert "glance_dead_letters_total" not in _sums(table)  # counted when read from the DLQ
    dlq = [SourceRecord(SETTINGS.dlq_topic, 1, i, b"x", None,
                        dead_letter_headers(reason, "d", "publish"))
           for i, reason in enumerate(["not_json", "not_json", "wrong_type"])]
    aggregator.apply(dlq)
    aggregator.apply(dlq[1:])  # replay
    assert _sums(table)["glance_dead_letters_total"] == {("not_json",): 2, ("wrong_type",): 1}


@pytest.mark.parametrize(("text", "label"), [
    ("Image storage media is full: disk", "storage_full"),
    ("Insufficient permissions on image storage media: x", "storage_write_denied"),
    ("Something new", "other"),
    # texts a real glance-api 33 sent (tests/integration/test_real_glance.py)
    ("Failed to upload image data for image 0edceb66-9987-4b45-96f6-d48c00345d43 due to internal "
     "error: Image disk_format qcow2 does not match stream data raw", "format_mismatch"),
    ("Failed to upload image data for image 0edceb66 due to internal error: Image failed safety "
     "checks", "unsafe_image"),
    ("Failed to upload image data for image 0edceb66 due to internal error: boom", "internal_error"),
])
def test_upload_failure_classes(text: str, label: str) -> None:
    assert upload_failure_class(text) == label


def test_collector_exports_owned_partitions_and_caps_projects() -> None:
    from prometheus_client import CollectorRegistry

    sent = glance_notifications()
    table: dict = {}
    Aggregator(table, AvroCodec(SETTINGS)).apply(_log(sent))
    everything = CollectorRegistry()
    everything.register(TableCollector(table.items, lambda: {0, 1, 2, 3}))
    halves = []
    for owned in ({0, 1}, {2, 3}):
        registry = CollectorRegistry()
        registry.register(TableCollector(table.items, lambda owned=owned: owned))
        halves.append(registry)
    name = "glance_notifications_total"
    whole = sum(s.value for m in everything.collect() if m.name == name.removesuffix("_total")
                for s in m.samples if s.name == name)
    parts = sum(s.value for r in halves for m in r.collect() if m.name == "glance_notifications"
                for s in m.samples if s.name == name)
    assert whole == parts == len(sent)

    capped = CollectorRegistry()
    capped.register(TableCollector(table.items, lambda: {0, 1, 2, 3}, project_label_limit=1))
    samples = [s for m in capped.collect() for s in m.samples]
    served = [s for s in samples if s.name == "glance_image_served_bytes_total"]
    projects = {s.labels["project"] for s in samples if "project" in s.labels}
    assert len(projects - {"_other"}) == 1 and "_other" in projects
    total = sum(s.value for s in served)
    assert total == sum(n["payload"]["bytes_sent"] for n in sent if n["event_type"] == "image.send")


def test_apply_adds_to_exactly_the_rows_the_rule_table_names() -> None:
    """apply() runs the rule table compiled (and caches the key texts); the rows must be the
    ones the table read literally names, with the same amounts, for every kind of record."""
    from streams.demo.simulator import TrafficGenerator
    from streams.rows import interpret

    sent = glance_notifications() + TrafficGenerator(seed=9, projects=30, rate=200.0).next_batch(3000)
    log = _log(sent)
    codec = AvroCodec(SETTINGS)
    expected: dict = {}
    for rec in log:
        record, _ = codec.decode_record(rec.value)
        for row, amount in interpret(record["event_type"], rec, record, rec.partition):
            expected[row.text] = expected.get(row.text, 0) + amount
    table: dict = {}
    Aggregator(table, AvroCodec(SETTINGS)).apply(log)
    got = {k: v[0] for k, v in table.items() if "|seen|" not in k}
    assert got == expected
    assert list(got) == list(expected)  # and written in the same order
