"""The aggregate table's rows: what each record adds to which row, and the metric a row feeds.

`RULES` is the one place this is said. The aggregator compiles it (`streams.rowplan`), the
collector reads rows back through it and `streams.metric_names` lists its metrics, so adding a
metric is one entry here (plus its pin in tests/unit/test_rows.py).

Row keys are typed (`RowKey`: partition, `Kind`, labels); their text, `p3|served|proj|complete`,
is what the changelog holds and deployed workers have written, so a `Kind`'s value and the order
of a rule's labels must never change.

A rule's fields are Python expressions over the decoded record, so the compiler can inline them
into one function per event type; they may read `rec` (the Kafka record), `record`,
`event_type`, `priority` and `payload`, and a rule's `when` conditions must be safe to evaluate
on any record of its event type. Rules `on` a `Fate` see only `rec`.

Not in the table: the inventory's image rows (`Kind.IMG`) hold an image's latest state, not
sums of per-record amounts, and its gauges are computed from that state at scrape time
(`streams.inventory`); the dedupe ring (`Kind.SEEN`) holds message ids.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, NamedTuple

from producers.deadletter import REASON, header_value
from producers.exceptions import ContractError
from producers.generated import define

OUTCOMES = {"INFO": "complete", "ERROR": "partial"}
#: Event-time buckets for the windowed views (5 minutes; "last hour" sums 12 of them).
BUCKET_SECONDS = 300


class Kind(StrEnum):
    """A row's kind: the second segment of its key text (persisted; never rename one)."""

    NOTIFICATIONS = "notifications"
    SERVED = "served"
    DOWNLOADED = "downloaded"
    DOWNLOADS = "downloads"
    WIN_SERVED = "win_served"
    WIN_DOWNLOADED = "win_downloaded"
    TASK_EVENTS = "task_events"
    TASK_FAILURES = "task_failures"
    UPLOAD_FAILURES = "upload_failures"
    DEAD_LETTERS = "dead_letters"
    DUPLICATES = "duplicates"
    DEAD_LETTERED_HERE = "dead_lettered_here"
    #: The dedupe ring (streams.aggregates).
    SEEN = "seen"
    #: One image's state (streams.inventory).
    IMG = "img"


_KINDS = {kind.value: kind for kind in Kind}


def key_text(partition: int, kind: Kind, *labels: str) -> str:
    """A row key's persisted text."""
    return "|".join((f"p{partition}", kind, *labels))


def partition_of(text: str) -> int:
    """The partition a row key text names (what the changelog writes it to)."""
    return int(text[1:text.index("|")])


class RowKey(NamedTuple):
    partition: int
    kind: Kind
    labels: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return key_text(self.partition, self.kind, *self.labels)

    @staticmethod
    def prefix(partition: int, kind: Kind) -> str:
        """The text every key of this kind and partition starts with (kinds with labels)."""
        return f"p{partition}|{kind}|"

    @staticmethod
    def parse(text: Any) -> RowKey | None:
        """The typed key of a row key text; None for anything that is not one."""
        if not isinstance(text, str):
            return None
        head, _, rest = text.partition("|")
        kind_text, has_labels, labels = rest.partition("|")
        kind = _KINDS.get(kind_text)
        if kind is None or head[:1] != "p" or not head[1:].isdigit():
            return None
        return _new(RowKey, (int(head[1:]), kind, tuple(labels.split("|")) if has_labels else ()))


_new = tuple.__new__


def kind_tokens(*kinds: Kind) -> tuple[str, ...]:
    """What a key text of one of these kinds holds right after its first "|", for scans of the
    whole table (`text.startswith(tokens, text.find("|") + 1)` instead of parsing every key).
    Kinds whose keys have labels."""
    return tuple(f"{kind}|" for kind in kinds)


def keyed(rows: Iterable[tuple[Any, Any]], owned: Callable[[int], bool]
          ) -> list[tuple[RowKey, Any]]:
    """The rows of the owned partitions with their keys parsed, once for every reader."""
    out = []
    parse = RowKey.parse
    for text, value in rows:
        key = parse(text)
        if key is not None and owned(key.partition):
            out.append((key, value))
    return out


class Fate(Enum):
    """What happened to a record that is not counted as a decoded event."""

    #: Read from the dead-letter topic (from any producer of dead letters).
    DEAD_LETTER = "dead_letter"
    #: Its message_id was already counted at another offset.
    DUPLICATE = "duplicate"
    #: This worker could not decode it (it goes to the dead-letter topic).
    UNDECODABLE = "undecodable"


class Expr(NamedTuple):
    """A Python expression over the names listed in the module docstring."""

    source: str


class Metric(NamedTuple):
    """The counter a rule's rows are summed into; `labels` name the key's labels in order."""

    name: str
    labels: tuple[str, ...]
    help: str
    #: Index of the project label, capped by the collector (`project_label_limit`).
    project: int | None = None


class Rule(NamedTuple):
    kind: Kind
    #: An event type (glob: "task.*", "*") of decoded first-seen records, or a record's fate.
    on: str | Fate
    key: tuple[Expr, ...]
    value: Expr
    when: tuple[Expr, ...] = ()
    #: None: the row is kept but not exported (e.g. the windows the JSON views read).
    metric: Metric | None = None


def bucket_start(timestamp: Any) -> int:
    seconds = timestamp.timestamp() if hasattr(timestamp, "timestamp") else timestamp / 1e6
    return int(seconds // BUCKET_SECONDS * BUCKET_SECONDS)


def upload_failure_class(message: str) -> str:
    """Glance's ImageProxy.set_data error texts, reduced to a bounded label."""
    text = message.lower()
    for needle, label in (("storage media is full", "storage_full"),
                          ("insufficient permissions", "storage_write_denied"),
                          ("timed out", "timeout"), ("duplicate", "duplicate"),
                          ("not allowed", "forbidden"), ("could not be found", "not_found"),
                          ("http error", "http_error"),
                          # a real glance-api wraps these in "due to internal error: ...", but
                          # they are the uploader's data, not Glance failing
                          ("does not match stream data", "format_mismatch"),
                          ("failed safety checks", "unsafe_image"),
                          ("internal error", "internal_error"),
                          ("cannot save data", "invalid_data")):
        if needle in text:
            return label
    return "other"


#: What the expressions may call, besides builtins.
NAMESPACE: dict[str, Any] = {
    "OUTCOMES": OUTCOMES, "REASON": REASON, "header_value": header_value,
    "bucket_start": bucket_start, "upload_failure_class": upload_failure_class,
    "datetime": datetime, "BUCKET_SECONDS": BUCKET_SECONDS,
}

ONE = Expr("1")
EVENT_TYPE = Expr("event_type")
PRIORITY = Expr("priority")
DICT_PAYLOAD = Expr("isinstance(payload, dict)")
TEXT_PAYLOAD = Expr("isinstance(payload, str)")
#: INFO (complete) or ERROR (partial); an image.send of another priority is only a notification.
HAS_OUTCOME = Expr("priority in OUTCOMES")
IS_ERROR = Expr('priority == "ERROR"')
OUTCOME = Expr("OUTCOMES[priority]")
BYTES_SENT = Expr('payload["bytes_sent"]')
OWNER = Expr('payload.get("owner_id") or "_unknown"')
RECEIVER = Expr('payload.get("receiver_tenant_id") or "_unknown"')
#: The event-time bucket's start (the datetime test is bucket_start inlined for the usual case).
BUCKET = Expr('int(stamp_.timestamp() // BUCKET_SECONDS * BUCKET_SECONDS) '
              'if type(stamp_ := record["timestamp"]) is datetime else bucket_start(stamp_)')
TASK_TYPE = Expr('payload.get("type") or payload.get("task_type") or "_unknown"')
TASK_STATUS = Expr('payload.get("status") or event_type.split(".", 1)[1]')
TASK_OWNER = Expr('payload.get("owner") or "_unknown"')
UPLOAD_FAILURE = Expr("upload_failure_class(payload)")
DLQ_REASON = Expr('header_value(rec.headers, REASON) or "unknown"')

_SENT = (DICT_PAYLOAD, HAS_OUTCOME)

#: In the order a record's rows are added to (and so first written in a batch).
RULES: tuple[Rule, ...] = (
    Rule(Kind.NOTIFICATIONS, "*", (EVENT_TYPE, PRIORITY), ONE, metric=Metric(
        "glance_notifications_total", ("event_type", "priority"),
        "Notifications consumed, by event type and priority.")),
    Rule(Kind.SERVED, "image.send", (OWNER, OUTCOME), BYTES_SENT, _SENT, Metric(
        "glance_image_served_bytes_total", ("project", "outcome"),
        "Bytes of image data served, by owner project; outcome=complete|partial.", project=0)),
    Rule(Kind.DOWNLOADED, "image.send", (RECEIVER, OUTCOME), BYTES_SENT, _SENT, Metric(
        "glance_image_downloaded_bytes_total", ("project", "outcome"),
        "Bytes of image data downloaded, by receiving project; outcome=complete|partial.",
        project=0)),
    Rule(Kind.DOWNLOADS, "image.send", (OUTCOME,), ONE, _SENT, Metric(
        "glance_image_downloads_total", ("outcome",), "Image downloads (image.send), by outcome.")),
    # the last hour of /projects/<project>/; expired after a day (Aggregator.expire_windows)
    Rule(Kind.WIN_SERVED, "image.send", (OWNER, BUCKET), BYTES_SENT, _SENT),
    Rule(Kind.WIN_DOWNLOADED, "image.send", (RECEIVER, BUCKET), BYTES_SENT, _SENT),
    Rule(Kind.TASK_EVENTS, "task.*", (TASK_TYPE, TASK_STATUS), ONE, (DICT_PAYLOAD,), Metric(
        "glance_task_events_total", ("task_type", "status"),
        "Task notifications, by task type and status.")),
    Rule(Kind.TASK_FAILURES, "task.failure", (TASK_TYPE, TASK_OWNER), ONE, (DICT_PAYLOAD,), Metric(
        "glance_task_failures_total", ("task_type", "project"),
        "task.failure notifications, by task type and owner.", project=1)),
    Rule(Kind.UPLOAD_FAILURES, "image.upload", (UPLOAD_FAILURE,), ONE, (IS_ERROR, TEXT_PAYLOAD),
         Metric("glance_image_upload_failures_total", ("reason",),
                "Failed uploads (ERROR image.upload), by reason class.")),
    Rule(Kind.DEAD_LETTERS, Fate.DEAD_LETTER, (DLQ_REASON,), ONE, metric=Metric(
        "glance_dead_letters_total", ("reason",),
        "Records sent to the dead-letter topic, by reason.")),
    Rule(Kind.DUPLICATES, Fate.DUPLICATE, (), ONE, metric=Metric(
        "glance_duplicates_skipped_total", (),
        "Notifications skipped because their message_id was already counted.")),
    # counted again, with its reason, when it comes back from the dead-letter topic
    Rule(Kind.DEAD_LETTERED_HERE, Fate.UNDECODABLE, (), ONE),
)

#: Window kinds -> index of their bucket label.
WINDOWS: dict[Kind, int] = {rule.kind: rule.key.index(BUCKET) for rule in RULES
                            if BUCKET in rule.key}
#: Kinds exported as a metric -> their metric.
METRIC_OF: dict[Kind, Metric] = {rule.kind: rule.metric for rule in RULES
                                 if rule.metric is not None}


def applies(rule: Rule, on: str | Fate) -> bool:
    """Whether a rule is about records of this event type (or fate)."""
    if isinstance(rule.on, Fate) or isinstance(on, Fate):
        return rule.on is on
    return fnmatch.fnmatchcase(on, rule.on)


class RuleTableError(ContractError):
    """A rule that breaks the table's invariants: a bug in this module, found at import so a
    worker never starts with it (a ValueError too, via ContractError)."""


def _check(rules: tuple[Rule, ...]) -> None:
    kinds = [rule.kind for rule in rules]
    if len(set(kinds)) != len(kinds) or {Kind.SEEN, Kind.IMG} & set(kinds):
        raise RuleTableError("each row kind has one rule, and seen/img rows have none")
    for rule in rules:
        if rule.metric is not None and len(rule.metric.labels) != len(rule.key):
            raise RuleTableError(f"{rule.kind}: its metric's labels do not name its key's labels")


_check(RULES)

_ARGS = "rec, record, event_type, priority, payload"
_compiled: dict[Expr, Callable[..., Any]] = {}


def _fn(expr: Expr) -> Callable[..., Any]:
    fn = _compiled.get(expr)
    if fn is None:
        fn = _compiled[expr] = define([f"def rule({_ARGS}): return {expr.source}"],
                                      f"<row rule {expr.source}>", dict(NAMESPACE))["rule"]
    return fn


def interpret(on: str | Fate, rec: Any, record: dict[str, Any] | None,
              partition: int) -> list[tuple[RowKey, int]]:
    """The table read literally, rule by rule: the (row, amount) pairs one record adds to.

    `on` is the record's event type, or its fate (then `record` is None). The aggregator runs a
    compiled form of this (streams/rowplan.py); tests check the two agree.
    """
    priority = payload = None
    if record is not None:
        priority, payload = record["priority"], record["payload"]
    event_type = on if isinstance(on, str) else ""
    args = (rec, record, event_type, priority, payload)
    out = []
    for rule in RULES:
        if applies(rule, on) and all(_fn(cond)(*args) for cond in rule.when):
            labels = tuple(str(_fn(expr)(*args)) for expr in rule.key)
            out.append((RowKey(partition, rule.kind, labels), _fn(rule.value)(*args)))
    return out
