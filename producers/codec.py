"""Notification dicts (as Glance's notifier builds them) to and from Avro records.

The inverse pair `to_record`/`from_record` is what makes publish -> consume give back the values
Glance sent: JSON-typed fields and payload keys a schema does not model travel as JSON text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from .contract import PRIORITY_ALIASES, SchemaVersion
from .exceptions import InvalidNotification
from .schemacodec import EPOCH, MICROSECOND, dumps, schema_codec

ENVELOPE_FIELDS = ("message_id", "publisher_id", "event_type", "priority", "timestamp", "payload")
_STRING_FIELDS = ("message_id", "publisher_id", "event_type")
_DETAIL_LIMIT = 300


def parse_notification(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Bytes, text or a dict, plain or in the oslo.messaging 2.0 wire envelope, to a plain dict.

    oslo.messaging's own context (`_context`) is dropped: it describes the caller's request, not
    the event, and may identify users.
    """
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidNotification("not_utf8", f"input is not UTF-8 text ({exc.reason})") from None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidNotification("not_json", f"input is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise InvalidNotification("not_an_object", f"expected a JSON object, got {_kind(raw)}")
    if "oslo.message" in raw:
        inner = raw["oslo.message"]
        if not isinstance(inner, str):
            raise InvalidNotification("bad_envelope", "oslo.message is not a JSON string")
        try:
            raw = json.loads(inner)
        except ValueError as exc:
            raise InvalidNotification("bad_envelope", f"oslo.message is not JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise InvalidNotification("bad_envelope", "oslo.message is not a JSON object")
    if "_context" in raw:
        raw = {k: v for k, v in raw.items() if k != "_context"}
    return raw


def normalize_priority(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidNotification("wrong_type", f"priority must be a string, got {_kind(value)}")
    priority = PRIORITY_ALIASES.get(value.upper())
    if priority is None:
        raise InvalidNotification(
            "unknown_priority", f"priority {_clip(value)!r} is not one of INFO, WARN, ERROR")
    return priority


def parse_timestamp(value: Any) -> datetime:
    """oslo's 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC, no zone) or ISO-8601, as a naive UTC datetime."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidNotification(
                "bad_timestamp", f"timestamp {_clip(value)!r} is not 'YYYY-MM-DD HH:MM:SS[.ffffff]'"
            ) from None
    else:
        raise InvalidNotification("wrong_type", f"timestamp must be a string, got {_kind(value)}")
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise InvalidNotification(
                "bad_timestamp", f"timestamp {_clip(str(value))!r} is outside years 1-9999 in UTC"
            ) from None
    return parsed


def format_timestamp(value: datetime) -> str:
    """The inverse of parse_timestamp for oslo's format: str() of a naive UTC datetime."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return str(value)


def to_record(notification: dict[str, Any], schema: SchemaVersion) -> dict[str, Any]:
    """Validate a plain notification against `schema` and build the Avro record for it."""
    record = to_wire_record(notification, schema)
    record["timestamp"] = EPOCH + timedelta(microseconds=record["timestamp"])
    payload = record["payload"]
    if type(payload) is tuple:
        record["payload"] = payload[1]
    return record


def to_wire_record(notification: dict[str, Any], schema: SchemaVersion) -> dict[str, Any]:
    """The reference path: every check in order, each with its own reason and message, and the
    record in the form fastavro writes fastest (the same bytes): the timestamp as int
    microseconds (UTC), a payload record named by its union branch, `(full name, dict)`.

    AvroCodec takes it only for what the generated encoder declines (schemacodec), so what is
    refused, and why, is decided here.
    """
    for name in ENVELOPE_FIELDS:
        if name not in notification:
            raise InvalidNotification("missing_field", f"notification has no {name!r}")
    for name in _STRING_FIELDS:
        if not isinstance(notification[name], str):
            raise InvalidNotification(
                "wrong_type", f"{name} must be a string, got {_kind(notification[name])}")
    if not notification["message_id"]:
        # It is what duplicates are recognised by: an empty one cannot tell them apart.
        raise InvalidNotification("missing_field", "message_id is empty")
    priority = normalize_priority(notification["priority"])
    parsed = parse_timestamp(notification["timestamp"])
    payload = _payload_to_avro(notification["payload"], schema)
    if type(payload) is dict and schema.payload is not None:
        payload = (schema.payload.full_name, payload)
    return {
        "message_id": notification["message_id"],
        "publisher_id": notification["publisher_id"],
        "event_type": notification["event_type"],
        "priority": priority,
        "timestamp": (parsed - EPOCH) // MICROSECOND,
        "payload": payload,
    }


def from_record(record: dict[str, Any], schema: SchemaVersion) -> dict[str, Any]:
    """An Avro record back to the notification dict it was made from."""
    payload = record["payload"]
    shape = schema.payload
    if shape is None:
        payload = json.loads(payload)
    elif isinstance(payload, dict):
        out: dict[str, Any] = {}
        for name in shape.fields:
            value = payload.get(name)
            if value is None and name in shape.omit_if_null:
                continue
            if value is not None and name in shape.json_fields:
                value = json.loads(value)
            out[name] = value
        for name, text in (payload.get("extra") or {}).items():
            out[name] = json.loads(text)
        payload = out
    return {
        "message_id": record["message_id"],
        "publisher_id": record["publisher_id"],
        "event_type": record["event_type"],
        "priority": record["priority"],
        "timestamp": format_timestamp(record["timestamp"]),
        "payload": payload,
    }


def _payload_to_avro(payload: Any, schema: SchemaVersion) -> Any:
    shape = schema.payload
    if shape is None:  # catch-all: any JSON value, kept as text
        return _to_json(payload, "payload")
    if isinstance(payload, str):
        return payload  # WARN/ERROR text messages, and the seed page's bare image id
    if not isinstance(payload, dict):
        raise InvalidNotification(
            "wrong_type", f"payload must be an object or a text message, got {_kind(payload)}")
    missing = [name for name in shape.required if payload.get(name) is None]
    if missing:
        raise InvalidNotification(
            "missing_field", f"{shape.name} has no {', '.join(sorted(missing))}")
    out: dict[str, Any] = {}
    for name in shape.fields:
        if name in payload:
            value = payload[name]
            if value is not None and name in shape.json_fields:
                value = _to_json(value, name)
            out[name] = value
    if shape.has_extra:
        out["extra"] = {
            key: _to_json(value, key) for key, value in payload.items()
            if key not in out and key not in shape.fields and key not in shape.drop
        }
    problem = schema_codec(schema).check_payload(out)  # type: ignore[misc]
    if problem:
        raise InvalidNotification("wrong_type", problem)
    return out


def _to_json(value: Any, name: str) -> str:
    try:
        return dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidNotification("wrong_type", f"{name} is not JSON-serialisable ({exc})") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value),
                                                                       type(value).__name__)


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."
