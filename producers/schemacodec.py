"""Each schema version compiled once into straight-line Python: one `SchemaCodec` that encodes
and decodes its records.

Why generated code: fastavro interprets the schema for every record (a validation per union
branch, a dict lookup per field, a `read()` call per varint byte), and that interpretation was
the largest single cost of both publishing and the stream worker (bench/README.md). Glance's
schemas use a handful of types (string, long, boolean, enum, timestamp-micros, [null, T], array
and map of string, the [record, string] payload union, the catch-all's JSON text), so one
generated function per schema writes, and one reads, the very bytes fastavro would.

fastavro stays the reference: tests/unit/test_avro_writer.py and test_fastdecode.py compare
bytes and values against it, and it is the only fallback. The generated functions never raise on
input; they return None, and the caller then hands the record to fastavro, on exactly these
conditions:

* `encode(notification)` returns None when the notification is not plainly valid: an envelope
  field missing or not a string, an empty message_id, a priority not spelled INFO, WARN, ERROR or
  WARNING, a timestamp that is not ISO text inside datetime's range in UTC, a payload neither an
  object nor text, a payload field missing or of the wrong type, a value JSON cannot hold, a
  string with a lone surrogate. Those are the KeyError, TypeError, ValueError and OverflowError
  of the operations that check them. The caller builds the record on the reference path
  (`codec.to_wire_record`, which raises the precise InvalidNotification) and fastavro writes it.
* `decode(buf, pos)` returns None when the bytes are not a plain, canonical encoding of exactly
  one record: a varint wider than 64 bits, a negative length or block count, a boolean other
  than 0 or 1, an out-of-range union or enum index, a truncated body, invalid UTF-8, a timestamp
  outside datetime's range, bytes after the record. fastavro then reads them, so a corrupt
  record fails with fastavro's own error.
* A schema using a type the generator does not handle gets functions that always return None
  (`encode_generated` / `decode_generated` say so).

All generated source runs through producers/generated.py, the one exec site.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from .contract import PRIORITY_ALIASES, PayloadShape, SchemaVersion
from .exceptions import GlanceKafkaError
from .generated import define as _define

#: json.dumps(value, ensure_ascii=False, allow_nan=False), without building an encoder per call.
dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
#: The wire timestamp is microseconds since this naive UTC instant.
EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)
#: What fastavro's timestamp-micros reader adds the value to (an aware datetime).
_AWARE_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LONG = (-(2**63), 2**63 - 1)
_INT = (-(2**31), 2**31 - 1)
_MISSING = object()
#: The envelope fields the encoder writes from local variables of the same name.
_ENVELOPE = ("message_id", "publisher_id", "event_type", "priority", "timestamp")
#: The operations that check a notification raise these on a value that does not fit.
_ENCODE_DECLINES = "(KeyError, TypeError, ValueError, OverflowError)"
#: ... and these are what reading bytes that are not a plain record raises.
_DECODE_DECLINES = "(Unsure, IndexError, UnicodeDecodeError, OverflowError)"

Encoder = Callable[[dict[str, Any]], bytes | None]
Decoder = Callable[[bytes, int], dict[str, Any] | None]


def _decline(*_: Any) -> None:
    """The encoder or decoder of a schema the generator does not handle: fastavro does it all."""
    return None


# -- type checks ------------------------------------------------------------------------------


def type_test(avro_type: Any, var: str) -> str | None:
    """A Python expression, on the variable `var`, true exactly when a value fits `avro_type`;
    None for types left to fastavro's validator. The one definition of these checks: the
    encoders inline it, `PayloadCheck` compiles it."""
    if isinstance(avro_type, str):
        bounds = {"long": _LONG, "int": _INT}.get(avro_type)
        if bounds is not None:
            return f"(type({var}) is int and {bounds[0]} <= {var} <= {bounds[1]})"
        python = {"string": "str", "boolean": "bool"}.get(avro_type)
        if python is not None:
            return f"type({var}) is {python}"
        if avro_type == "null":
            return f"{var} is None"
        if avro_type in ("double", "float"):
            return f"type({var}) in (int, float)"
        return None
    if isinstance(avro_type, list):
        tests = [type_test(t, var) for t in avro_type]
        if not tests or any(t is None for t in tests):
            return None
        return "(" + " or ".join(tests) + ")"  # type: ignore[arg-type]
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "array":
            inner = type_test(avro_type.get("items"), "_x")
            if inner is not None:
                return f"(type({var}) is list and all([{inner} for _x in {var}]))"
        elif kind == "map":
            inner = type_test(avro_type.get("values"), "_x")
            if inner is not None:
                return (f"(type({var}) is dict and all([type(_k) is str and {inner} "
                        f"for _k, _x in {var}.items()]))")
    return None


def _describe(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        return " or ".join(_describe(t) for t in avro_type)
    if isinstance(avro_type, dict):
        inner = avro_type.get("values") or avro_type.get("items")
        return f"{avro_type['type']} of {_describe(inner)}"
    return str(avro_type)


class PayloadCheck:
    """Checks a payload dict against its record schema, naming the first field at fault: the
    reference path's check, whose message becomes the dead letter's detail."""

    def __init__(self, record_schema: dict[str, Any]) -> None:
        self.name = record_schema["name"]
        self._parsed = fastavro.parse_schema(record_schema, _write_hint=False)
        tests = [type_test(f["type"], "v") for f in record_schema["fields"]]
        source = [f"def check{i}(v): return {test}" for i, test in enumerate(tests) if test]
        checks = _define(source, f"<type checks {self.name}>", {})
        self._fields: list[tuple[str, Callable[[Any], bool] | None, bool, str]] = [
            (f["name"], checks.get(f"check{i}"), "default" in f, _describe(f["type"]))
            for i, f in enumerate(record_schema["fields"])]

    def __call__(self, record: dict[str, Any]) -> str | None:
        """None when the record fits, else a one-line description of the first mismatch."""
        for name, check, has_default, expected in self._fields:
            if name not in record:
                if has_default:
                    continue
                return f"{self.name}.{name} is missing"
            value = record[name]
            if check is None:
                try:
                    validate(value, self._parsed, raise_errors=True)
                except ValidationError as exc:
                    return f"{self.name}.{name}: {exc}"[:300]
            elif not check(value):
                return (f"{self.name}.{name} is {type(value).__name__} "
                        f"{str(value)[:60]!r}, expected {expected}")
        return None


# -- writing ----------------------------------------------------------------------------------

_SMALL = [bytes([i]) for i in range(128)]
#: A timestamp in microseconds since 1970 (zigzagged: 2**49 to 2**56, December 1978 to
#: September 3111) is an 8-byte varint: three 14-bit groups of two continued bytes each (_GROUP),
#: then the last two bytes (_LAST); four lookups instead of varint()'s loop, which uses them too.
_GROUP = [bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(1 << 14)]
_LAST = [bytes(((n & 0x7F) | 0x80, n >> 7)) for n in range(1 << 14)]


def varint(n: int) -> bytes:
    """An unsigned varint (the caller zigzags signed values)."""
    if n < 0x80:
        return _SMALL[n]
    if n < 0x4000:
        return _LAST[n]
    head = b""
    while n >= 0x4000:  # 14 bits at a time: two continued bytes from a table
        head += _GROUP[n & 0x3FFF]
        n >>= 14
    return head + (_SMALL[n] if n < 0x80 else _LAST[n])


#: A string's length prefix (zigzag varint), for the common lengths.
_LENGTH = [varint(n << 1) for n in range(4096)]


class _Unsupported(GlanceKafkaError):
    """A type the generator does not write or read: the schema stays with fastavro."""


class _Writer:
    """Lines writing values of Avro types, appended to `parts` through `w`."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "varint": varint, "LENGTH": _LENGTH, "GROUP": _GROUP, "LAST": _LAST,
            "MISSING": _MISSING, "dumps": dumps, "ALIASES": PRIORITY_ALIASES,
            "fromisoformat": datetime.fromisoformat, "UTC": UTC, "EPOCH": EPOCH,
            "MICROSECOND": MICROSECOND}
        self.named: dict[str, Any] = {}
        self.n = 0

    def var(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def emit(self, avro_type: Any, v: str, ind: str,
             sources: dict[str, str] | None = None) -> list[str]:
        """Lines writing the value in variable `v` as `avro_type`; for a record with `sources`,
        its fields from those local variables (MISSING when absent) instead of from `v`."""
        if isinstance(avro_type, str):
            if avro_type in self.named:
                return self.emit(self.named[avro_type], v, ind)
            if avro_type == "string":
                b, n = self.var("b"), self.var("n")
                return [f"{ind}{b} = {v}.encode()", f"{ind}{n} = len({b})",
                        f"{ind}w(LENGTH[{n}] if {n} < 4096 else varint({n} << 1))", f"{ind}w({b})"]
            if avro_type in ("long", "int"):
                return [f"{ind}w(varint(({v} << 1) ^ ({v} >> 63)))"]
            if avro_type == "boolean":
                return [f"{ind}w(b'\\x01' if {v} else b'\\x00')"]
            raise _Unsupported(avro_type)
        if isinstance(avro_type, list):
            if len(avro_type) == 2 and avro_type[0] == "null" and avro_type[1] != "null":
                return [f"{ind}if {v} is None:", f"{ind}    w(b'\\x00')", f"{ind}else:",
                        f"{ind}    w(b'\\x02')", *self.emit(avro_type[1], v, ind + "    ")]
            raise _Unsupported(avro_type)
        kind = avro_type.get("type")
        if kind == "enum":
            table = self.var("ENUM")
            self.namespace[table] = {s: varint(i << 1) for i, s in enumerate(avro_type["symbols"])}
            self._name(avro_type)
            return [f"{ind}w({table}[{v}])"]
        if kind == "long" and avro_type.get("logicalType") == "timestamp-micros":
            z = self.var("z")
            return [f"{ind}{z} = ({v} << 1) ^ ({v} >> 63)",
                    f"{ind}if {1 << 49} <= {z} < {1 << 56}:",
                    f"{ind}    w(GROUP[{z} & 16383]); w(GROUP[{z} >> 14 & 16383])",
                    f"{ind}    w(GROUP[{z} >> 28 & 16383]); w(LAST[{z} >> 42])",
                    f"{ind}else:",
                    f"{ind}    w(varint({z}))"]
        if kind == "long" and avro_type.get("logicalType") is None:
            return self.emit("long", v, ind)
        if kind in ("array", "map"):
            x = self.var("x")
            if kind == "array":
                loop, key = f"for {x} in {v}:", []
                inner = self.emit(avro_type["items"], x, ind + "        ")
            else:
                k = self.var("k")
                loop, key = f"for {k}, {x} in {v}.items():", self.emit("string", k, ind + "        ")
                inner = self.emit(avro_type["values"], x, ind + "        ")
            # fastavro writes one block (its count, then the items) and the closing 0.
            return [f"{ind}if {v}:", f"{ind}    w(varint(len({v}) << 1))", f"{ind}    {loop}",
                    *key, *inner, f"{ind}w(b'\\x00')"]
        if kind == "record" and sources is not None:
            self._name(avro_type)
            lines = []
            for field in avro_type["fields"]:
                f = self.var("f")
                lines += self._from_local(field, sources.get(field["name"]), f, ind)
                lines += self.emit(field["type"], f, ind)
            return lines
        raise _Unsupported(avro_type)

    def _from_local(self, field: dict[str, Any], source: str | None, f: str,
                    ind: str) -> list[str]:
        """`f` = the field's value from its local variable, as `record.get(name, default)` would
        give it from the record built with only the fields present."""
        if "default" in field:
            if source is None:
                return [f"{ind}{f} = {field['default']!r}"]
            return [f"{ind}{f} = {field['default']!r} if {source} is MISSING else {source}"]
        if source is None:
            raise _Unsupported(field)
        return [f"{ind}{f} = {source}", f"{ind}if {f} is MISSING: return None"]

    def _name(self, named: dict[str, Any]) -> None:
        self.named[named["name"]] = named
        if "namespace" in named:
            self.named[f"{named['namespace']}.{named['name']}"] = named


#: The envelope checks, on the notification `n`, into local variables (timestamp in microseconds).
_ENVELOPE_LINES = [
    "message_id = n['message_id']",
    "publisher_id = n['publisher_id']",
    "event_type = n['event_type']",
    "priority = n['priority']",
    "timestamp = n['timestamp']",
    "payload = n['payload']",
    "if not (type(message_id) is str and message_id and type(publisher_id) is str",
    "        and type(event_type) is str and type(priority) is str",
    "        and type(timestamp) is str): return None",
    "priority = ALIASES.get(priority)",
    "if priority is None: return None",
    "parsed = fromisoformat(timestamp)",
    "if parsed.tzinfo is not None: parsed = parsed.astimezone(UTC).replace(tzinfo=None)",
    "timestamp = (parsed - EPOCH) // MICROSECOND"]


def _payload_lines(shape: PayloadShape, ind: str) -> tuple[list[str], dict[str, str]]:
    """The payload checks and build on the dict `payload`: one local variable per field (MISSING
    when absent), `return None` where the reference path would not take it as it is; and the
    variable of each field. The reference path (`codec._payload_to_avro`) builds the same."""
    fields = {f["name"]: f for f in shape.record["fields"]}
    variables = {field: f"P{i}" for i, field in enumerate(shape.fields)}
    body = [f"{ind}get = payload.get", f"{ind}present = 0",
            f"{ind}{' = '.join(variables.values())} = MISSING"]
    for field in shape.fields:
        test = type_test(fields[field]["type"], "v")
        if test is None:
            raise _Unsupported(fields[field])
        body += [f"{ind}v = get({field!r}, MISSING)", f"{ind}if v is not MISSING:",
                 f"{ind}    present += 1"]
        if field in shape.required:
            body.append(f"{ind}    if v is None: return None")
        if field in shape.json_fields:
            body.append(f"{ind}    if v is not None: v = dumps(v)")
        body += [f"{ind}    if not {test}: return None", f"{ind}    {variables[field]} = v"]
        if field in shape.required:
            body.append(f"{ind}else: return None")
    if shape.has_extra:
        if type_test(fields["extra"]["type"], "extra") is None:
            raise _Unsupported(fields["extra"])
        variables["extra"] = "P_extra"
        body += [f"{ind}if len(payload) > present:",
                 f"{ind}    P_extra = {{}}",
                 f"{ind}    for k, x in payload.items():",
                 f"{ind}        if k not in MODELLED_OR_DROPPED:",
                 f"{ind}            if type(k) is not str: return None",
                 f"{ind}            P_extra[k] = dumps(x)",
                 f"{ind}else:",
                 f"{ind}    P_extra = {{}}"]
    return body, variables


def _encoder(schema: SchemaVersion) -> Encoder | None:
    """encode(notification) -> Avro body, or None (module docstring); None for a schema with a
    type it does not write."""
    gen = _Writer()
    checks = [f"        {line}" for line in _ENVELOPE_LINES]
    writes: list[str] = []
    try:
        for field in schema.raw["fields"]:
            name, kind = field["name"], field["type"]
            if name in _ENVELOPE:
                writes += gen.emit(kind, name, "        ")
            elif name == "payload" and kind == "string" and field.get("glance.json"):
                checks.append("        payload = dumps(payload)")  # the catch-all: JSON text
                writes += gen.emit("string", "payload", "        ")
            elif name == "payload" and schema.payload is not None and isinstance(kind, list):
                shape = schema.payload
                record = next((b for b in kind if isinstance(b, dict)), {})
                if len(kind) != 2 or "string" not in kind or record.get("type") != "record":
                    raise _Unsupported(kind)
                body, variables = _payload_lines(shape, "            ")
                gen.namespace["MODELLED_OR_DROPPED"] = frozenset(shape.fields) | shape.drop
                checks += ["        if type(payload) is dict:", *body,
                           "            as_record = True",
                           "        elif type(payload) is str:",  # a WARN/ERROR text message
                           "            as_record = False",
                           "        else: return None"]
                writes += ["        if as_record:",
                           f"            w({varint(kind.index(record) << 1)!r})",
                           *gen.emit(record, "payload", "            ", variables),
                           "        else:",
                           f"            w({varint(kind.index('string') << 1)!r})",
                           *gen.emit("string", "payload", "            ")]
            else:
                raise _Unsupported(field)
    except _Unsupported:
        return None
    lines = ["def encode(n):", "    try:", *checks, "        parts = []", "        w = parts.append",
             *writes, f"    except {_ENCODE_DECLINES}:", "        return None",
             "    return b''.join(parts)"]
    return _define(lines, f"<avro encoder {schema.full_name}>", gen.namespace)["encode"]  # type: ignore[no-any-return]


# -- reading ----------------------------------------------------------------------------------


class _Unsure(GlanceKafkaError):
    """The bytes are not a canonical encoding the reader is sure fastavro reads alike."""


def _varint_lines() -> list[str]:
    """varint(buf, pos, first): the rest of a varint whose first byte (`first`, >= 0x80) was at
    pos - 1, unrolled: (the raw value, the position after it)."""
    lines = ["def varint(buf, pos, first):", "    n = first & 0x7F"]
    for i in range(1, 9):
        lines += [f"    b = buf[pos + {i - 1}]",
                  f"    if b < 0x80: return n | (b << {7 * i}), pos + {i}",
                  f"    n |= (b & 0x7F) << {7 * i}"]
    # The tenth byte holds the 64th bit; anything longer or wider is not a canonical long.
    return [*lines, "    b = buf[pos + 8]", "    if b < 2: return n | (b << 63), pos + 9",
            "    raise Unsure"]


_varint: Callable[[bytes, int, int], tuple[int, int]] = _define(
    _varint_lines(), "<avro varint>", {"Unsure": _Unsure})["varint"]


class _Reader:
    """Lines reading values of Avro types from `buf` at `pos`."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.named = named
        self.counter = 0
        self.depth = 0

    def var(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def const(self, value: Any) -> str:
        name = self.var("K")
        self.consts[name] = value
        return name

    def raw(self, target: str, pad: str) -> None:
        """Read one varint, undecoded (zig-zag still applied), into `target`."""
        self.lines += [f"{pad}{target} = buf[pos]", f"{pad}pos += 1",
                       f"{pad}if {target} > 127: {target}, pos = varint(buf, pos, {target})"]

    def long(self, target: str, pad: str) -> None:
        self.raw(target, pad)
        self.lines.append(f"{pad}{target} = ({target} >> 1) ^ -({target} & 1)")

    def emit(self, schema: Any, target: str, pad: str) -> None:
        """Code reading one value of `schema` into the local `target`."""
        self.depth += 1
        try:
            if self.depth > 32:
                raise _Unsupported("nested too deep")
            self._emit(schema, target, pad)
        finally:
            self.depth -= 1

    def _emit(self, schema: Any, target: str, pad: str) -> None:  # noqa: C901, PLR0912
        lines = self.lines
        if isinstance(schema, list):
            n = self.var("u")
            self.raw(n, pad)
            for index, branch in enumerate(schema):
                lines.append(f"{pad}{'if' if index == 0 else 'elif'} {n} == {2 * index}:")
                self.emit(branch, target, pad + "    ")
            lines += [f"{pad}else:", f"{pad}    raise Unsure"]
        elif isinstance(schema, str):
            if schema == "null":
                lines.append(f"{pad}{target} = None")
            elif schema == "boolean":
                b = self.var("b")
                lines += [f"{pad}{b} = buf[pos]", f"{pad}pos += 1",
                          f"{pad}if {b} > 1: raise Unsure", f"{pad}{target} = {b} == 1"]
            elif schema == "long":
                self.long(target, pad)
            elif schema == "string":
                n, end = self.var("n"), self.var("e")
                self.raw(n, pad)
                # A slice past the end is cut short: the length check at the end catches it.
                lines += [f"{pad}if {n} & 1: raise Unsure",
                          f"{pad}{end} = pos + ({n} >> 1)",
                          f"{pad}{target} = buf[pos:{end}].decode()",
                          f"{pad}pos = {end}"]
            elif schema in self.named:
                self.emit(self.named[schema], target, pad)
            else:
                raise _Unsupported(schema)
        elif isinstance(schema, dict):
            kind, logical = schema.get("type"), schema.get("logicalType")
            if kind == "long" and logical == "timestamp-micros":
                self.long(target, pad)
                lines.append(f"{pad}{target} = EPOCH + timedelta(0, 0, {target})")  # microseconds
            elif logical is not None:
                raise _Unsupported(schema)
            elif kind in ("null", "boolean", "long", "string"):
                self.emit(kind, target, pad)
            elif kind == "enum":
                symbols = self.const(tuple(schema["symbols"]))
                self.long(target, pad)
                lines += [f"{pad}if not 0 <= {target} < {len(schema['symbols'])}: raise Unsure",
                          f"{pad}{target} = {symbols}[{target}]"]
            elif kind == "record":
                names = []
                for field in schema["fields"]:
                    local = self.var("f")
                    self.emit(field["type"], local, pad)
                    names.append(f"{field['name']!r}: {local}")
                lines.append(f"{pad}{target} = {{{', '.join(names)}}}")
            elif kind in ("map", "array"):
                self._blocks(schema, kind, target, pad)
            else:
                raise _Unsupported(schema)
        else:
            raise _Unsupported(schema)

    def _blocks(self, schema: dict[str, Any], kind: str, target: str, pad: str) -> None:
        lines = self.lines
        count, item = self.var("c"), self.var("i")
        lines.append(f"{pad}{target} = {{}}" if kind == "map" else f"{pad}{target} = []")
        lines.append(f"{pad}while True:")
        self.raw(count, pad + "    ")
        lines += [f"{pad}    if {count} == 0: break",
                  f"{pad}    if {count} & 1: raise Unsure",  # a negative count: sized blocks
                  f"{pad}    for _ in range({count} >> 1):"]
        inner = pad + "        "
        if kind == "map":
            key = self.var("k")
            self.emit("string", key, inner)
            self.emit(schema["values"], item, inner)
            lines.append(f"{inner}{target}[{key}] = {item}")
        else:
            self.emit(schema["items"], item, inner)
            lines.append(f"{inner}{target}.append({item})")


def _named_types(schema: Any, out: dict[str, Any]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, out)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            out.setdefault(schema["name"], schema)
        for field in schema.get("fields", ()):
            _named_types(field["type"], out)
        for key in ("values", "items"):
            if key in schema:
                _named_types(schema[key], out)


def _decoder(parsed: Any, name: str) -> Decoder | None:
    """decode(buf, pos) -> the record of the fastavro-parsed schema `parsed` that starts at
    `pos` and ends `buf`, as fastavro returns it (same keys in the same order, same values and
    types), or None (module docstring); None for a schema with a type it does not read."""
    named: dict[str, Any] = {}
    _named_types(parsed, named)
    gen = _Reader(named)
    try:
        gen.emit(parsed, "out", "        ")
    except _Unsupported:
        return None
    lines = ["def decode(buf, pos):", "    try:", *gen.lines,
             f"    except {_DECODE_DECLINES}:", "        return None",
             "    if pos != len(buf): return None", "    return out"]
    namespace = {"Unsure": _Unsure, "varint": _varint, "EPOCH": _AWARE_EPOCH,
                 "timedelta": timedelta, **gen.consts}
    return _define(lines, f"<avro decoder {name}>", namespace)["decode"]  # type: ignore[no-any-return]


# -- one schema, compiled ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaCodec:
    """One schema version's generated encoder and decoder, and its payload check."""

    schema: SchemaVersion
    encode: Encoder
    decode: Decoder
    #: The reference path's payload check (None for the catch-all's JSON text).
    check_payload: PayloadCheck | None
    encode_generated: bool
    decode_generated: bool


#: id(schema) -> (schema, its codec); holding the schema keeps its id from being reused.
_compiled: dict[int, tuple[SchemaVersion, SchemaCodec]] = {}


def schema_codec(schema: SchemaVersion) -> SchemaCodec:
    """The compiled codec of `schema`, compiled on first use."""
    entry = _compiled.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    encode = _encoder(schema)
    decode = _decoder(schema.parsed, schema.full_name)
    codec = SchemaCodec(
        schema=schema, encode=encode or _decline, decode=decode or _decline,
        check_payload=None if schema.payload is None else PayloadCheck(schema.payload.record),
        encode_generated=encode is not None, decode_generated=decode is not None)
    _compiled[id(schema)] = (schema, codec)
    return codec
