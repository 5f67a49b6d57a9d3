"""Confluent-framed Avro (magic byte 0, 4-byte schema id, Avro body) for the per-type topics.

Encoding and decoding go through confluent-kafka's AvroSerializer/AvroDeserializer, so the bytes
are exactly what Kafka Connect, ksqlDB, Flink and Spark expect from a Schema Registry producer.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

import fastavro

from .avrowriter import compile_wire_writer, compile_writer
from .codec import compiled_payload, from_record, parse_notification, wire_record, wire_source
from .config import Settings
from .contract import Contract, SchemaVersion, default_contract
from .exceptions import InvalidNotification
from .fastdecode import Reader, compile_reader

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

_MAGIC = 0
_write = fastavro.schemaless_writer


@dataclass(frozen=True, slots=True)
class Encoded:
    """One notification, ready to produce."""

    topic: str
    key: bytes | None
    value: bytes
    event_type: str
    message_id: str


# Encoded(...) on the hot path without the frozen dataclass's __init__ (which sets each field
# through object.__setattr__): the same object, set through its slots, in ~half the time.
_new = object.__new__
_set_topic, _set_key, _set_value, _set_event_type, _set_message_id = (
    Encoded.__dict__[name].__set__
    for name in ("topic", "key", "value", "event_type", "message_id"))


def record_key(event_type: str, payload: Any, message_id: str | None = None) -> bytes | None:
    """Image events by image id, task events by task id: one object's events stay in order.

    A record with no id to key by (a WARN/ERROR text message) is keyed by its message_id, so a
    redelivered copy lands on the same partition as the original and is recognised as a duplicate.
    """
    key: Any = None
    if isinstance(payload, dict):
        if event_type.startswith("task."):
            key = payload.get("id") or payload.get("task_id")
        else:
            key = payload.get("image_id") or payload.get("id")
    elif isinstance(payload, str) and event_type == "image.delete":
        key = payload  # the seed page's image.delete carries the bare image id
    if not (isinstance(key, str) and key):
        key = message_id
    return key.encode("utf-8") if isinstance(key, str) and key else None


class AvroCodec:
    """Encodes notifications for, and decodes records from, the per-type topics.

    Schema ids come from the registry client (a real registry, or the manifest offline); the
    Avro body is written by code generated per schema (producers/avrowriter.py, same bytes as
    fastavro, which writes whatever that code does not) and read by fastavro directly.
    confluent-kafka's AvroSerializer produced byte-identical records but spent ~30 µs of Python
    per record on its rule engine and subject bookkeeping, most of the publisher's budget (see
    bench/); the tests check both directions against confluent's serdes so the framing stays
    theirs.
    """

    def __init__(self, settings: Settings, contract: Contract | None = None,
                 registry: SchemaRegistryClient | None = None) -> None:
        self.settings = settings
        self.contract = contract or default_contract()
        self._registry_mode = settings.schema_registry_url is not None
        if registry is None and self._registry_mode:
            from .registry import registry_client  # the [registry] extra, only when configured

            registry = registry_client(settings)
        # None offline: schema ids are the contract's manifest (avro/manifest.json)
        self.registry = registry
        self._headers: dict[tuple[str, int], bytes] = {}
        self._writers: dict[int, tuple[Any, SchemaVersion, Any]] = {}
        # The 4 schema id bytes of a record -> a generated reader for it and the schema it
        # decodes to; only for writer schemas that need no resolution (see fastdecode.py).
        self._fast: dict[bytes, tuple[Reader, SchemaVersion]] = {}
        self._by_full_name = {v.full_name: v for v in self.contract.by_id.values()}
        # event type -> [schema, topic, payload builder, header, body writer, wire writer]: once
        # per type.
        self._targets: dict[str, list[Any]] = {}
        self._max_bytes = settings.max_message_bytes
        self._body_writers: dict[int, Any] = {}
        self._wire_writers: dict[int, Any] = {}

    # -- encoding -----------------------------------------------------------------------------

    def encode(self, raw: bytes | str | dict[str, Any]) -> Encoded:
        """Validate and encode one notification; raises InvalidNotification with a reason."""
        if type(raw) is dict and "oslo.message" not in raw and "_context" not in raw:
            notification = raw  # what parse_notification would return for it
        else:
            notification = parse_notification(raw)
        event_type = notification.get("event_type")
        target = self._targets.get(event_type) if type(event_type) is str else None
        if target is None:
            if not isinstance(event_type, str) or not event_type:
                reason = "missing_field" if event_type is None else "wrong_type"
                raise InvalidNotification(reason, "event_type must be a non-empty string")
            target = self._target(event_type)
        schema, topic, compiled, header, write_body, write_wire = target
        if write_wire is not None and header is not None:
            # The common case: checks and Avro body in one generated function, no wire record
            # in between. Anything it does not take (None or an exception) goes the long way
            # below, which decides exactly as before.
            try:
                body = write_wire(notification)
            except Exception:  # noqa: BLE001
                body = None
            if body is not None:
                value = header + body
                if len(value) <= self._max_bytes:
                    message_id = notification["message_id"]
                    encoded = _new(Encoded)
                    _set_topic(encoded, topic)
                    _set_key(encoded, record_key(event_type, notification["payload"], message_id))
                    _set_value(encoded, value)
                    _set_event_type(encoded, event_type)
                    _set_message_id(encoded, message_id)
                    return encoded
        record = wire_record(notification, schema, compiled)
        if header is None:  # first record of this type: register (registry) or frame its id
            header = target[3] = self._header(topic, schema)
        try:
            value = header + write_body(record)
        except Exception:  # noqa: BLE001 - no generated writer, or a value it does not expect
            buffer = BytesIO()
            buffer.write(header)
            try:
                _write(buffer, schema.parsed, record)
            except (ValueError, TypeError, OverflowError) as exc:
                raise InvalidNotification("encode_error", str(exc)[:300]) from None
            value = buffer.getvalue()
        if len(value) > self._max_bytes:
            raise InvalidNotification(
                "oversized",
                f"encoded record is {len(value)} bytes, over max_message_bytes="
                f"{self.settings.max_message_bytes}")
        message_id = record["message_id"]
        return Encoded(topic, record_key(event_type, notification["payload"], message_id), value,
                       event_type, message_id)

    def _target(self, event_type: str) -> list[Any]:
        """[schema, topic, compiled payload builder, framing header (None until first used),
        Avro body writer, whole-notification writer (or None)]."""
        schema = self.contract.latest(event_type)
        topic = self.settings.topic(self.contract.topic_suffix(event_type))
        write_body = self._body_writers.get(schema.schema_id)
        if write_body is None:
            # Generated for the schema (same bytes as fastavro); None for a schema it cannot
            # write: calling None raises, and encode() falls back to fastavro.
            write_body = self._body_writers[schema.schema_id] = compile_writer(schema.raw)
        write_wire = self._wire_writers.get(schema.schema_id)
        if write_wire is None and write_body is not None:
            # wire_record's fast path and the body writer in one function (same bytes).
            write_wire = self._wire_writers[schema.schema_id] = compile_wire_writer(
                schema.raw, wire_source(schema))
        target = [schema, topic, compiled_payload(schema),
                  self._headers.get((topic, schema.schema_id)), write_body, write_wire]
        if len(self._targets) < 10_000:  # undocumented types share a schema; bound the cache
            self._targets[event_type] = target
        return target

    def _header(self, topic: str, schema: SchemaVersion) -> bytes:
        """Magic byte and schema id; registered under '<topic>-value' once when a registry is used."""
        header = self._headers.get((topic, schema.schema_id))
        if header is None:
            if self._registry_mode and self.registry is not None:
                from confluent_kafka.schema_registry import Schema

                registered = self.registry.register_schema_full_response(
                    f"{topic}-value", Schema(schema.schema_str, "AVRO"))
                schema_id = registered.schema_id
            else:
                schema_id = schema.schema_id
            header = struct.pack(">bI", _MAGIC, schema_id)
            self._headers[(topic, schema.schema_id)] = header
        return header

    # -- decoding -----------------------------------------------------------------------------

    def writer_schema_id(self, value: bytes) -> int:
        if len(value) < 6 or value[0] != _MAGIC:
            raise InvalidNotification(
                "bad_framing", "not a Schema Registry framed Avro record (magic byte 0 + id)")
        return struct.unpack(">I", value[1:5])[0]

    def _writer(self, schema_id: int) -> tuple[Any, SchemaVersion, Any]:
        """The writer's parsed schema, the newest local schema, and the parsed schema to resolve
        to (None when the writer's is that one)."""
        cached = self._writers.get(schema_id)
        if cached is None:
            try:
                if self.registry is None:
                    text = self.contract.by_id[schema_id].schema_str
                else:
                    text = self.registry.get_schema(schema_id).schema_str
            except KeyError:
                raise InvalidNotification(
                    "unknown_schema", f"schema id {schema_id} is not in the manifest") from None
            except Exception as exc:  # registry errors and unknown ids alike
                raise InvalidNotification(
                    "unknown_schema", f"schema id {schema_id}: {exc}") from None
            raw = json.loads(text)
            name = f"{raw.get('namespace', '')}.{raw.get('name', '')}"
            known = self._by_full_name.get(name)
            if known is None:
                raise InvalidNotification("unknown_schema", f"{name} is not a Glance schema")
            reader = self.contract.latest(known.event_type)
            # The newest local schema itself needs no resolution; fastavro skips it when there
            # is no reader schema (the same record, read about twice as fast).
            cached = (fastavro.parse_schema(raw), reader,
                      None if json.loads(reader.schema_str) == raw else reader.parsed)
            self._writers[schema_id] = cached
            fast = compile_reader(cached[0], name) if cached[2] is None else None
            if fast is not None:
                self._fast[struct.pack(">I", schema_id)] = (fast, reader)
        return cached

    def decode_record(self, value: bytes) -> tuple[dict[str, Any], SchemaVersion]:
        """The Avro record (resolved to the newest local schema) and that schema."""
        if type(value) is bytes and len(value) > 5 and value[0] == _MAGIC:
            fast = self._fast.get(value[1:5])
            if fast is not None:
                try:
                    return fast[0](value, 5), fast[1]
                except Exception:  # noqa: S110 - not a record it is sure of: fastavro decides
                    pass
        writer, reader, resolve_to = self._writer(self.writer_schema_id(value))
        body = BytesIO(value[5:])
        try:
            record = fastavro.schemaless_reader(body, writer, resolve_to)
        except Exception as exc:  # fastavro raises assorted errors on corrupt bodies
            raise InvalidNotification("decode_error", f"{type(exc).__name__}: {exc}"[:300]) from None
        if body.tell() != len(value) - 5:  # fastavro stops after one record, leaving the rest
            raise InvalidNotification(
                "decode_error", f"{len(value) - 5 - body.tell()} bytes after the Avro record")
        return record, reader  # type: ignore[return-value]

    def decode(self, value: bytes) -> dict[str, Any]:
        """A record back to the notification dict `publish` takes."""
        record, reader = self.decode_record(value)
        try:
            return from_record(record, reader)
        except (ValueError, TypeError, KeyError) as exc:  # a corrupt body that parsed as Avro
            raise InvalidNotification("decode_error", f"{type(exc).__name__}: {exc}"[:300]) from None
