"""Straight-line Avro readers generated from a writer schema, for the stream worker's hot path.

fastavro's schemaless_reader reads a record through a file object, one `read()` call per
varint byte and per string, which made it half the worker's per-event cost (~10 µs for an
image.send). The function generated here reads the same bytes by index from the `bytes` value
(~3-4 µs) and returns the same dict: the same keys in the same order, the same values and types
(timestamp-micros as an aware UTC datetime, enums as their symbol, maps as dicts).

It only ever accepts input it is sure fastavro reads the same way: plain, canonical encodings
(varints of at most 64 bits, non-negative lengths and block counts, booleans 0 or 1, in-range
union and enum indexes). Anything else raises `Unsure`, and the caller reads the record with
fastavro, so corrupt records fail with fastavro's own error, exactly as before. Bytes after the
record also raise `Unsure`: a framed value holds one record, and the caller refuses what
schemaless_reader would silently leave unread (a second record appended, say).

Only the types Glance's schemas use are generated (null, boolean, long, string, enum, record,
union, map, array, long/timestamp-micros); for a schema with any other type `compile_reader`
returns None and fastavro does all the reading.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .exceptions import GlanceKafkaError

#: What fastavro's timestamp-micros reader adds the value to.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Reader = Callable[[bytes, int], dict[str, Any]]


class Unsure(GlanceKafkaError):
    """The generated reader declines this input; read it with fastavro instead."""


def _unrolled_varint() -> Callable[[bytes, int, int], tuple[int, int]]:
    lines = ["def varint(buf, pos, first):",
             '    """The rest of a varint whose first byte (`first`, >= 0x80) was at pos - 1:',
             '    (the raw value, the position after it)."""',
             "    n = first & 0x7F"]
    for i in range(1, 9):
        lines += [f"    b = buf[pos + {i - 1}]",
                  f"    if b < 0x80: return n | (b << {7 * i}), pos + {i}",
                  f"    n |= (b & 0x7F) << {7 * i}"]
    # The tenth byte holds the 64th bit; anything longer or wider is not a canonical long.
    lines += ["    b = buf[pos + 8]", "    if b < 2: return n | (b << 63), pos + 9",
              "    raise Unsure"]
    namespace: dict[str, Any] = {"Unsure": Unsure}
    exec(compile("\n".join(lines), "<avro varint>", "exec"), namespace)  # noqa: S102
    return namespace["varint"]  # type: ignore[no-any-return]


_varint = _unrolled_varint()


class _Generator:
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

    def emit(self, schema: Any, target: str, pad: str) -> bool:
        """Code reading one value of `schema` into the local `target`; False if unsupported."""
        self.depth += 1
        try:
            if self.depth > 32:
                return False
            return self._emit(schema, target, pad)
        finally:
            self.depth -= 1

    def _emit(self, schema: Any, target: str, pad: str) -> bool:  # noqa: C901, PLR0911, PLR0912
        lines = self.lines
        if isinstance(schema, list):
            n = self.var("u")
            self.raw(n, pad)
            for index, branch in enumerate(schema):
                lines.append(f"{pad}{'if' if index == 0 else 'elif'} {n} == {2 * index}:")
                if not self.emit(branch, target, pad + "    "):
                    return False
            lines += [f"{pad}else:", f"{pad}    raise Unsure"]
            return True
        if isinstance(schema, str):
            if schema == "null":
                lines.append(f"{pad}{target} = None")
                return True
            if schema == "boolean":
                b = self.var("b")
                lines += [f"{pad}{b} = buf[pos]", f"{pad}pos += 1",
                          f"{pad}if {b} > 1: raise Unsure", f"{pad}{target} = {b} == 1"]
                return True
            if schema == "long":
                self.long(target, pad)
                return True
            if schema == "string":
                n, end = self.var("n"), self.var("e")
                self.raw(n, pad)
                # A slice past the end is cut short: `read` checks `pos` once, at the end.
                lines += [f"{pad}if {n} & 1: raise Unsure",
                          f"{pad}{end} = pos + ({n} >> 1)",
                          f"{pad}{target} = buf[pos:{end}].decode()",
                          f"{pad}pos = {end}"]
                return True
            named = self.named.get(schema)
            return named is not None and self.emit(named, target, pad)
        if not isinstance(schema, dict):
            return False
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if kind == "long" and logical == "timestamp-micros":
            self.long(target, pad)
            lines.append(f"{pad}{target} = EPOCH + timedelta(0, 0, {target})")  # microseconds
            return True
        if logical is not None:
            return False
        if kind in ("null", "boolean", "long", "string"):
            return self.emit(kind, target, pad)
        if kind == "enum":
            symbols = self.const(tuple(schema["symbols"]))
            self.long(target, pad)
            lines += [f"{pad}if not 0 <= {target} < {len(schema['symbols'])}: raise Unsure",
                      f"{pad}{target} = {symbols}[{target}]"]
            return True
        if kind == "record":
            names = []
            for field in schema["fields"]:
                local = self.var("f")
                if not self.emit(field["type"], local, pad):
                    return False
                names.append(f"{field['name']!r}: {local}")
            lines.append(f"{pad}{target} = {{{', '.join(names)}}}")
            return True
        if kind in ("map", "array"):
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
                if not (self.emit("string", key, inner)
                        and self.emit(schema["values"], item, inner)):
                    return False
                lines.append(f"{inner}{target}[{key}] = {item}")
            else:
                if not self.emit(schema["items"], item, inner):
                    return False
                lines.append(f"{inner}{target}.append({item})")
            return True
        return False


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


def compile_reader(parsed: Any, name: str = "record") -> Reader | None:
    """`read(buf, pos)`: the record of the (fastavro-parsed) schema `parsed` that starts at
    `pos` in `buf`; raises Unsure (or IndexError, UnicodeDecodeError, OverflowError) when it
    will not say. None when the schema has a type this module does not generate."""
    named: dict[str, Any] = {}
    _named_types(parsed, named)
    gen = _Generator(named)
    gen.lines.append("def read(buf, pos):")
    if not gen.emit(parsed, "out", "    "):
        return None
    gen.lines += ["    if pos != len(buf): raise Unsure", "    return out"]
    namespace: dict[str, Any] = {"Unsure": Unsure, "varint": _varint, "EPOCH": _EPOCH,
                                 "timedelta": timedelta, **gen.consts}
    exec(compile("\n".join(gen.lines), f"<avro reader {name}>", "exec"), namespace)  # noqa: S102
    return namespace["read"]  # type: ignore[no-any-return]
