"""The rule table (streams/rows.py): persisted key texts pinned, the compiled plans against the
table read literally, typed keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from producers.deadletter import dead_letter_headers
from producers.serde import AvroCodec
from streams.aggregates import Aggregator, SourceRecord
from streams.demo.simulator import TrafficGenerator
from streams.inventory import Inventory
from streams.metric_names import METRICS
from streams.rowplan import Plans
from streams.rows import RULES, Expr, Fate, Kind, RowKey, Rule, _check, interpret
from tests.glance_events import glance_notifications
from tests.source_log import SETTINGS, source_log

#: 150 s into a 5-minute bucket starting at 1764000000.
STAMP = datetime.fromtimestamp(1_764_000_150, UTC).replace(tzinfo=None)


def _n(i: int, event_type: str, priority: str, payload: Any) -> dict[str, Any]:
    return {"message_id": f"m-{i}", "publisher_id": "image.host1", "event_type": event_type,
            "priority": priority, "timestamp": str(STAMP), "payload": payload}


#: One record per rule (and the ring and inventory rows), and the key texts deployed workers
#: have written for them: these must never change (the changelog holds them).
PINNED = {
    "p2|notifications|image.send|INFO": 1, "p2|served|proj-a|complete": 1000,
    "p2|downloaded|proj-b|complete": 1000, "p2|downloads|complete": 1,
    "p2|win_served|proj-a|1764000000": 1000, "p2|win_downloaded|proj-b|1764000000": 1000,
    "p2|notifications|task.failure|ERROR": 1, "p2|task_events|import|failure": 1,
    "p2|task_failures|import|proj-c": 1,
    "p2|notifications|image.upload|ERROR": 1, "p2|upload_failures|storage_full": 1,
    "p2|notifications|image.create|INFO": 1,
    "p2|dead_letters|not_json": 1, "p2|duplicates": 1, "p2|dead_lettered_here": 1,
}
PINNED_STATE = {"p2|seen|0", "p2|img|img-1"}


def _pinned_records() -> list[SourceRecord]:
    codec = AvroCodec(SETTINGS)
    notifications = [
        _n(1, "image.send", "INFO", {"bytes_sent": 1000, "image_id": "img-9", "owner_id": "proj-a",
                                     "receiver_tenant_id": "proj-b", "receiver_user_id": "u"}),
        _n(2, "task.failure", "ERROR", {"id": "t-1", "type": "import", "status": "failure",
                                        "owner": "proj-c"}),
        _n(3, "image.upload", "ERROR", "Image storage media is full: disk"),
        _n(4, "image.create", "INFO", {"id": "img-1", "owner": "proj-a", "status": "queued",
                                       "deleted": False}),
    ]
    out = []
    for i, n in enumerate(notifications):
        encoded = codec.encode(n)
        out.append(SourceRecord(encoded.topic, 2, 10 + i, encoded.value, encoded.key))
    first = out[0]
    out.append(SourceRecord(first.topic, 2, 20, first.value, first.key))  # a duplicate
    out.append(SourceRecord(first.topic, 2, 21, b""))  # undecodable
    out.append(SourceRecord(SETTINGS.dlq_topic, 2, 0, b"x", None,
                            dead_letter_headers("not_json", "d", "publish")))
    return out


def test_every_rule_writes_the_key_texts_deployed_workers_wrote() -> None:
    table: dict = {}
    Aggregator(table, AvroCodec(SETTINGS), observers=[Inventory(table)]).apply(_pinned_records())
    assert set(table) == set(PINNED) | PINNED_STATE
    assert {key: row[0] for key, row in table.items() if key in PINNED} == PINNED
    # every kind of row is pinned, so a new rule needs a pin here
    assert {RowKey.parse(key).kind for key in table} == set(Kind)


def _decoded() -> list[tuple[SourceRecord, dict[str, Any]]]:
    codec = AvroCodec(SETTINGS)
    log = source_log(glance_notifications()
                     + TrafficGenerator(seed=9, projects=30, rate=200.0).next_batch(2000))
    return [(rec, codec.decode_record(rec.value)[0]) for rec in log]


def _edge_cases() -> list[tuple[str, dict[str, Any]]]:
    """Records the usual traffic lacks, as the codec decodes them (payload dict or text)."""
    send = {"bytes_sent": 5, "owner_id": None, "receiver_tenant_id": "", "image_id": "i"}
    task = {"type": None, "task_type": "copy", "status": None, "owner": None}
    return [
        ("image.send", {"priority": "WARN", "payload": send, "timestamp": STAMP}),
        ("image.send", {"priority": "ERROR", "payload": send, "timestamp": 1_764_000_150_000_000}),
        ("image.send", {"priority": "INFO", "payload": "text", "timestamp": STAMP}),
        ("task.run", {"priority": "INFO", "payload": task, "timestamp": STAMP}),
        ("task.failure", {"priority": "ERROR", "payload": {}, "timestamp": STAMP}),
        ("task.failure", {"priority": "ERROR", "payload": "boom", "timestamp": STAMP}),
        ("task.something_new", {"priority": "INFO", "payload": {"type": "x"}, "timestamp": STAMP}),
        ("image.upload", {"priority": "INFO", "payload": "Image storage media is full",
                          "timestamp": STAMP}),
        ("image.upload", {"priority": "ERROR", "payload": {"id": "i"}, "timestamp": STAMP}),
        ("compute.instance.create.end", {"priority": "INFO", "payload": "{}", "timestamp": STAMP}),
        ("other", {"priority": "DEBUG", "payload": "x", "timestamp": STAMP}),
    ]


def test_the_compiled_plans_add_to_the_rows_the_table_names_in_its_order() -> None:
    plans = Plans(["image.send"])
    cases = [(rec.partition, rec, record["event_type"], record) for rec, record in _decoded()]
    cases += [(p, None, et, record) for p in (0, 3) for et, record in _edge_cases()]
    kinds = set()
    for _ in range(2):  # the second time from the key cache
        for partition, rec, event_type, record in cases:
            expected = interpret(event_type, rec, record, partition)
            kinds |= {row.kind for row, _ in expected}
            keys, amounts = plans.for_event(event_type)(rec, record, event_type, f"p{partition}|")
            assert (list(keys), list(amounts)) == (
                [row.text for row, _ in expected], [amount for _, amount in expected])
    fates = [(Fate.DEAD_LETTER, SourceRecord("t", 1, 0, b"", None, headers))
             for headers in (None, dead_letter_headers("wrong_type", "d", "bridge"))]
    fates += [(Fate.DUPLICATE, SourceRecord("t", 1, 0, b"")),
              (Fate.UNDECODABLE, SourceRecord("t", 1, 0, None))]
    for fate, rec in fates:
        expected = interpret(fate, rec, None, 1)
        kinds |= {row.kind for row, _ in expected}
        keys, amounts = plans.fates[fate](rec, None, "", "p1|")
        assert (list(keys), list(amounts)) == (
            [row.text for row, _ in expected], [amount for _, amount in expected])
    assert kinds == {rule.kind for rule in RULES}  # every rule was exercised


def test_interpret_reads_the_table_as_written() -> None:
    """The literal reading itself, on one image.send, against sums worked out by hand."""
    send = {"bytes_sent": 7, "owner_id": "o", "receiver_tenant_id": None}
    rows = interpret("image.send", None, {"priority": "ERROR", "payload": send,
                                          "timestamp": STAMP}, 1)
    assert [(row.text, amount) for row, amount in rows] == [
        ("p1|notifications|image.send|ERROR", 1), ("p1|served|o|partial", 7),
        ("p1|downloaded|_unknown|partial", 7), ("p1|downloads|partial", 1),
        ("p1|win_served|o|1764000000", 7), ("p1|win_downloaded|_unknown|1764000000", 7)]


@pytest.mark.parametrize("text", ["p2|served|proj-a|complete", "p0|duplicates", "p11|seen|3",
                                  "p2|img|3f1e", "p1|dead_letters|"])
def test_key_texts_parse_back_to_the_same_key(text: str) -> None:
    key = RowKey.parse(text)
    assert key is not None and key.text == text
    assert key.partition == int(text.split("|")[0][1:]) and key.kind.value == text.split("|")[1]
    assert key.labels == tuple(text.split("|")[2:])


@pytest.mark.parametrize("text", ["", "p2", "p2|nope|x", "q2|served|a|b", "px|served|a|b", 7,
                                  None, ("p0", "served")])
def test_anything_else_is_not_a_key(text: Any) -> None:
    assert RowKey.parse(text) is None


def test_each_rule_metric_is_exported_with_its_labels() -> None:
    for rule in RULES:
        if rule.metric is not None:
            spec = METRICS[rule.metric.name]
            assert spec.kind == "counter" and spec.labels == rule.metric.labels
            assert len(rule.key) == len(spec.labels)


def test_a_rule_whose_metric_labels_do_not_match_its_key_is_refused() -> None:
    bad = RULES[0]._replace(key=(Expr("event_type"),))
    with pytest.raises(ValueError, match="labels"):
        _check((bad, *RULES[1:]))
    with pytest.raises(ValueError, match="one rule"):
        _check((*RULES, Rule(Kind.SEEN, "*", (), Expr("1"))))
