"""Reading topics back in tests (through the product's own reader and codec)."""

from __future__ import annotations

from typing import Any

from producers.config import Settings
from producers.reader import read_topics
from producers.serde import AvroCodec
from producers.topics import pipeline_topics


def read_all(settings: Settings, topic: str, idle: float = 1.0) -> list[Any]:
    """Every record of a topic (confluent Message objects), from the beginning."""
    return list(read_topics(settings, [topic], from_beginning=True, idle_timeout=idle,
                            skip_missing=True))


def decoded(settings: Settings, topic: str, idle: float = 1.0) -> list[dict[str, Any]]:
    codec = AvroCodec(settings)
    return [codec.decode(m.value()) for m in read_all(settings, topic, idle)]


def all_pipeline_records(settings: Settings, idle: float = 1.0) -> dict[str, list[Any]]:
    """Every record of every pipeline topic, by topic, read with one consumer."""
    topics = pipeline_topics(settings)
    out: dict[str, list[Any]] = {t: [] for t in topics}
    for message in read_topics(settings, topics, from_beginning=True, idle_timeout=idle,
                               skip_missing=True):
        out[message.topic()].append(message)
    return out


def strip_added_nulls(decoded_payload: Any, original: Any) -> Any:
    """Decoding may add keys the schema models, as null (or their default) when the input lacked
    them; every key the input had must come back with its value."""
    if not isinstance(decoded_payload, dict) or not isinstance(original, dict):
        return decoded_payload
    return {k: v for k, v in decoded_payload.items() if k in original}


def same_notification(decoded: dict[str, Any], sent: dict[str, Any]) -> bool:
    """The decoded notification carries every value that was sent: the envelope as sent (the
    priority in its canonical spelling, the timestamp as the same instant), every payload key
    with its value, and nothing but nulls added."""
    from datetime import UTC, datetime

    def instant(text: str) -> datetime:
        parsed = datetime.fromisoformat(text)
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed

    priority = sent["priority"].upper()
    payload, original = decoded["payload"], sent["payload"]
    added = ({k: v for k, v in payload.items() if k not in original}
             if isinstance(payload, dict) and isinstance(original, dict) else {})
    return ({k: decoded[k] for k in ("message_id", "publisher_id", "event_type")}
            == {k: sent[k] for k in ("message_id", "publisher_id", "event_type")}
            and decoded["priority"] == {"WARNING": "WARN"}.get(priority, priority)
            and instant(decoded["timestamp"]) == instant(sent["timestamp"])
            and strip_added_nulls(payload, original) == original
            and all(v is None for v in added.values()))
