"""Confluent-framed Avro (magic byte 0, 4-byte schema id, Avro body) for the per-type topics.

The framing is the Schema Registry wire format, so Kafka Connect, ksqlDB, Flink and Spark read
the topics with their stock Avro deserializers (tests/unit/test_serde_interop.py checks both
directions against confluent-kafka's AvroSerializer/AvroDeserializer). The Avro bodies are
written and read by each schema's generated codec (producers/schemacodec.py), with fastavro
taking what that code declines.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

import fastavro

from .codec import ENVELOPE_FIELDS, from_record, parse_notification, to_wire_record
from .config import Settings
from .contract import Contract, SchemaVersion, default_contract
from .exceptions import InvalidNotification
from .schemacodec import Decoder, Encoder, schema_codec

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

_MAGIC = 0
log = logging.getLogger(__name__)
_ENVELOPE = frozenset(ENVELOPE_FIELDS)
_ENVELOPE_SIZE = len(_ENVELOPE)
#: How many distinct unknown envelope keys are logged (each once); the count goes on regardless.
_LOGGED_KEYS_LIMIT = 100
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

    Schema ids come from the registry client (a real registry, or the manifest offline). The
    bodies are written by the schema's generated encoder and read by its generated decoder;
    what either declines (schemacodec's docstring lists exactly what) goes to fastavro, after
    the reference checks for encoding. confluent-kafka's own AvroSerializer writes the same
    bytes, but its per-record rule engine and subject bookkeeping cost more than the rest of
    publishing together (bench/README.md); the tests check the framing against it both ways.
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
        # The 4 schema id bytes of a record -> the generated decoder for it and the schema it
        # decodes to; only for writer schemas that need no resolution (the newest local one).
        self._fast: dict[bytes, tuple[Decoder, SchemaVersion]] = {}
        self._by_full_name = {v.full_name: v for v in self.contract.by_id.values()}
        # event type -> [schema, topic, header (None until first used), generated encoder]
        self._targets: dict[str, list[Any]] = {}
        self._max_bytes = settings.max_message_bytes
        #: Top-level keys outside the envelope (not oslo's own) -> how many records had them.
        self.unknown_envelope_keys: dict[Any, int] = {}

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
        schema, topic, header, encode = target
        body = encode(notification)
        if body is None:  # declined: the reference checks decide, and fastavro writes
            body = _fastavro_body(schema, to_wire_record(notification, schema))
        if header is None:  # first record of this type: register (registry) or frame its id
            header = target[2] = self._header(topic, schema)
        value = header + body
        if len(value) > self._max_bytes:
            raise InvalidNotification(
                "oversized",
                f"encoded record is {len(value)} bytes, over max_message_bytes="
                f"{self.settings.max_message_bytes}")
        if len(notification) != _ENVELOPE_SIZE:  # a parsed notification has every field
            self._note_unknown_keys(notification)
        message_id = notification["message_id"]
        encoded = _new(Encoded)
        _set_topic(encoded, topic)
        _set_key(encoded, record_key(event_type, notification["payload"], message_id))
        _set_value(encoded, value)
        _set_event_type(encoded, event_type)
        _set_message_id(encoded, message_id)
        return encoded

    def _note_unknown_keys(self, notification: dict[str, Any]) -> None:
        """Top-level keys the schema has no field for are not written. oslo.messaging's own
        (`_context_*`, `_unique_id`, any `_`-prefixed key) are expected and ignored; any other
        is counted in `unknown_envelope_keys` and logged once per name, so a Glance change
        that adds an envelope field is seen rather than silently lost. The record is still
        published: refusing it would dead-letter real traffic over a field nobody reads yet."""
        for key in notification.keys() - _ENVELOPE:
            if type(key) is str and key.startswith("_"):
                continue
            seen = self.unknown_envelope_keys.get(key, 0)
            self.unknown_envelope_keys[key] = seen + 1
            if seen == 0 and len(self.unknown_envelope_keys) <= _LOGGED_KEYS_LIMIT:
                log.warning("notifications carry a top-level %r, which no schema models: "
                            "it is not published (logged once)", key)

    def _target(self, event_type: str) -> list[Any]:
        """[schema, topic, framing header (None until first used), generated encoder]."""
        schema = self.contract.latest(event_type)
        topic = self.settings.topic(self.contract.topic_suffix(event_type))
        encode: Encoder = schema_codec(schema).encode
        target = [schema, topic, self._headers.get((topic, schema.schema_id)), encode]
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
            if cached[2] is None:  # the writer's schema is the newest local one: no resolution
                compiled = schema_codec(reader)
                if compiled.decode_generated:
                    self._fast[struct.pack(">I", schema_id)] = (compiled.decode, reader)
        return cached

    def decode_record(self, value: bytes) -> tuple[dict[str, Any], SchemaVersion]:
        """The Avro record (resolved to the newest local schema) and that schema."""
        if type(value) is bytes and len(value) > 5 and value[0] == _MAGIC:
            fast = self._fast.get(value[1:5])
            if fast is not None:
                record = fast[0](value, 5)
                if record is not None:  # None: not a plain record; fastavro decides
                    return record, fast[1]
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


def _fastavro_body(schema: SchemaVersion, record: dict[str, Any]) -> bytes:
    """fastavro's bytes for a record the reference checks built; what it cannot write (a value
    outside what the checks test, such as a lone surrogate) is refused as encode_error."""
    buffer = BytesIO()
    try:
        _write(buffer, schema.parsed, record)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidNotification("encode_error", str(exc)[:300]) from None
    return buffer.getvalue()
