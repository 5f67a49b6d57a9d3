"""Notification dicts (as Glance's notifier builds them) to and from Avro records.

The inverse pair `to_record`/`from_record` is what makes publish -> consume give back the values
Glance sent: JSON-typed fields and payload keys a schema does not model travel as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .checks import type_test
from .contract import PRIORITIES, PayloadShape, SchemaVersion
from .exceptions import InvalidNotification

ENVELOPE_FIELDS = ("message_id", "publisher_id", "event_type", "priority", "timestamp", "payload")
_STRING_FIELDS = ("message_id", "publisher_id", "event_type")
_PRIORITY_ALIASES = {p: p for p in PRIORITIES} | {"WARNING": "WARN"}
_DETAIL_LIMIT = 300
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
#: json.dumps(value, ensure_ascii=False, allow_nan=False), without building an encoder per call.
_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


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
    priority = _PRIORITY_ALIASES.get(value.upper())
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
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def format_timestamp(value: datetime) -> str:
    """The inverse of parse_timestamp for oslo's format: str() of a naive UTC datetime."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return str(value)


def to_record(notification: dict[str, Any], schema: SchemaVersion) -> dict[str, Any]:
    """Validate a plain notification against `schema` and build the Avro record for it."""
    record = to_wire_record(notification, schema)
    record["timestamp"] = _EPOCH + timedelta(microseconds=record["timestamp"])
    payload = record["payload"]
    if type(payload) is tuple:
        record["payload"] = payload[1]
    return record


def to_wire_record(notification: dict[str, Any], schema: SchemaVersion) -> dict[str, Any]:
    """`to_record`, in the form fastavro writes fastest (same bytes): the timestamp as int
    microseconds (UTC), and a payload record named by its union branch, `(full name, dict)`.

    The common case takes a compiled fast path; anything it does not accept goes through the
    reference checks below, so errors and their messages are theirs.
    """
    return wire_record(notification, schema, compiled_payload(schema))


def wire_record(notification: dict[str, Any], schema: SchemaVersion,
                compiled: Compiled | None) -> dict[str, Any]:
    """`to_wire_record` with `compiled_payload(schema)` already looked up (the codec caches it
    per event type)."""
    if compiled is not None:
        try:
            record = compiled[2](notification)
        except (KeyError, TypeError, ValueError):
            record = None
        if record is not None:
            return record
    try:
        message_id = notification["message_id"]
        publisher_id = notification["publisher_id"]
        event_type = notification["event_type"]
        priority = notification["priority"]
        timestamp = notification["timestamp"]
        payload = notification["payload"]
    except (KeyError, TypeError):
        return _to_wire_record_checked(notification, schema)
    if not (type(message_id) is str and message_id and type(publisher_id) is str
            and type(event_type) is str and type(priority) is str and type(timestamp) is str):
        return _to_wire_record_checked(notification, schema)
    priority = _PRIORITY_ALIASES.get(priority) or normalize_priority(priority)
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        parsed = parse_timestamp(timestamp)  # raises bad_timestamp
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    out = None
    if compiled is not None and type(payload) is dict:
        try:
            out = compiled[0](payload)
        except (TypeError, ValueError):
            out = None
    payload = (_wire_payload(_payload_to_avro(payload, schema), schema) if out is None
               else (compiled[1], out))  # type: ignore[index]
    return {
        "message_id": message_id,
        "publisher_id": publisher_id,
        "event_type": event_type,
        "priority": priority,
        "timestamp": (parsed - _EPOCH) // _MICROSECOND,
        "payload": payload,
    }


def _to_wire_record_checked(notification: dict[str, Any], schema: SchemaVersion) -> dict[str, Any]:
    """The reference path: every check in order, each with its own reason and message."""
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
    return {
        "message_id": notification["message_id"],
        "publisher_id": notification["publisher_id"],
        "event_type": notification["event_type"],
        "priority": priority,
        "timestamp": (parsed - _EPOCH) // _MICROSECOND,
        "payload": _wire_payload(_payload_to_avro(notification["payload"], schema), schema),
    }


def _wire_payload(payload: Any, schema: SchemaVersion) -> Any:
    if type(payload) is dict:
        compiled = compiled_payload(schema)
        if compiled is not None:
            return (compiled[1], payload)
    return payload


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
    problem = shape.check(out)
    if problem:
        raise InvalidNotification("wrong_type", problem)
    return out


def _to_json(value: Any, name: str) -> str:
    try:
        return _dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidNotification("wrong_type", f"{name} is not JSON-serialisable ({exc})") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value),
                                                                       type(value).__name__)


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."


# -- the compiled fast path -------------------------------------------------------------------
#
# One function per payload record, generated from its schema: it builds the same dict
# `_payload_to_avro` builds and applies the same type checks as `RecordCheck`, in straight-line
# code (~1 µs for an image.send). It returns None, or raises TypeError/ValueError, whenever the
# payload is not plainly valid; the caller then takes the reference path, which raises the
# precise error. It never accepts what the reference path rejects.

_MISSING = object()
Builder = Callable[[dict[str, Any]], dict[str, Any] | None]
#: A whole notification to its wire record, or None (or TypeError/KeyError/ValueError) when the
#: reference path must decide.
WireBuilder = Callable[[dict[str, Any]], dict[str, Any] | None]
Compiled = tuple[Builder, str, WireBuilder]
#: id(schema) -> (schema, compiled); holding the schema keeps its id from being reused.
_compiled_by_schema: dict[int, tuple[SchemaVersion, Compiled | None]] = {}


def compiled_payload(schema: SchemaVersion) -> Compiled | None:
    """(payload builder, the payload record's full name, whole-record builder) for `schema`, or
    None (catch-all, or a field type the generator does not handle)."""
    entry = _compiled_by_schema.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    compiled = None
    shape = schema.payload
    if shape is not None:
        payload_field = next(f for f in schema.parsed["fields"] if f["name"] == "payload")
        branches = payload_field["type"] if isinstance(payload_field["type"], list) else []
        record = next((b for b in branches if isinstance(b, dict) and b.get("type") == "record"),
                      None)
        builders = (_compile_payload(shape, shape.check.schema, record["name"])
                    if record is not None else None)
        if builders is not None:
            compiled = (builders[0], record["name"], builders[1])
    _compiled_by_schema[id(schema)] = (schema, compiled)
    return compiled


def _compile_payload(shape: PayloadShape, record_schema: dict[str, Any],
                     name: str) -> tuple[Builder, WireBuilder] | None:
    """The payload builder, and the whole-record builder that inlines it (`wire_record`'s fast
    path in one function), generated from the same lines."""
    generated = _payload_lines(shape, record_schema)
    if generated is None:
        return None
    body = generated[0]
    lines = ["def build(payload):", *body, "    return out", "",
             # The envelope checks of wire_record's fast path, then the payload's, in one call.
             "def wire(n):", *_ENVELOPE_LINES, *body,
             "    return {'message_id': message_id, 'publisher_id': publisher_id,",
             "            'event_type': event_type, 'priority': priority,",
             "            'timestamp': (parsed - EPOCH) // MICROSECOND, 'payload': (NAME, out)}"]
    namespace = _namespace(shape, name)
    exec(compile("\n".join(lines), f"<payload builder {shape.name}>", "exec"), namespace)  # noqa: S102
    return namespace["build"], namespace["wire"]


#: wire()'s envelope checks: the notification `n` to local variables, or return None.
_ENVELOPE_LINES = [
    "    message_id = n['message_id']",
    "    publisher_id = n['publisher_id']",
    "    event_type = n['event_type']",
    "    priority = n['priority']",
    "    timestamp = n['timestamp']",
    "    payload = n['payload']",
    "    if not (type(message_id) is str and message_id and type(publisher_id) is str",
    "            and type(event_type) is str and type(priority) is str",
    "            and type(timestamp) is str and type(payload) is dict): return None",
    "    priority = ALIASES.get(priority)",
    "    if priority is None: return None",
    "    parsed = fromisoformat(timestamp)",
    "    if parsed.tzinfo is not None: parsed = parsed.astimezone(UTC).replace(tzinfo=None)"]


def _namespace(shape: PayloadShape, name: str) -> dict[str, Any]:
    return {
        "MISSING": _MISSING, "dumps": _dumps,
        "MODELLED_OR_DROPPED": frozenset(shape.fields) | shape.drop,
        "ALIASES": _PRIORITY_ALIASES, "fromisoformat": datetime.fromisoformat, "UTC": UTC,
        "EPOCH": _EPOCH, "MICROSECOND": _MICROSECOND, "NAME": name}


def _payload_lines(shape: PayloadShape, record_schema: dict[str, Any],
                   to_locals: bool = False) -> tuple[list[str], dict[str, str]] | None:
    """The payload checks and build, on the dict `payload`: into the dict `out`, or with
    `to_locals` into one local variable per field (MISSING when absent); and the variable of
    each field."""
    fields = {f["name"]: f for f in record_schema["fields"]}
    variables = {field: f"P{i}" for i, field in enumerate(shape.fields)}
    body = ["    get = payload.get", "    present = 0"]
    body.append(f"    {' = '.join(variables.values())} = MISSING" if to_locals else "    out = {}")
    for field in shape.fields:
        test = type_test(fields[field]["type"], "v")
        if test is None:
            return None
        body += [f"    v = get({field!r}, MISSING)", "    if v is not MISSING:",
                 "        present += 1"]
        if field in shape.required:
            body.append("        if v is None: return None")
        if field in shape.json_fields:
            body.append("        if v is not None: v = dumps(v)")
        body += [f"        if not {test}: return None",
                 f"        {variables[field]} = v" if to_locals else f"        out[{field!r}] = v"]
        if field in shape.required:
            body.append("    else: return None")
    if shape.has_extra:
        test = type_test(fields["extra"]["type"], "extra")
        if test is None:
            return None
        store = "P_extra = " if to_locals else "out['extra'] = "
        variables["extra"] = "P_extra"
        body += ["    if len(payload) > present:",
                 "        extra = {}",
                 "        for k, x in payload.items():",
                 "            if k not in MODELLED_OR_DROPPED:",
                 "                if type(k) is not str: return None",
                 "                extra[k] = dumps(x)",
                 f"        {store}extra",
                 "    else:",
                 f"        {store}{{}}"]
    return body, variables


def wire_source(schema: SchemaVersion) -> tuple[list[str], dict[str, Any], dict[str, str]] | None:
    """The fast path of `wire_record` as source lines for a generated Avro writer to continue
    (avrowriter.compile_wire_writer): the checks of wire() on the notification `n`, leaving the
    envelope in local variables (`timestamp` in microseconds) and each payload field in the
    variable named by the returned map (MISSING when absent), or returning None exactly where
    wire() would; with the namespace they run in. None where there is no compiled fast path."""
    compiled = compiled_payload(schema)
    if compiled is None:
        return None
    shape = schema.payload
    assert shape is not None
    generated = _payload_lines(shape, shape.check.schema, to_locals=True)
    if generated is None:
        return None
    body, variables = generated
    lines = [*_ENVELOPE_LINES, *body, "    timestamp = (parsed - EPOCH) // MICROSECOND"]
    return lines, _namespace(shape, compiled[1]), variables
