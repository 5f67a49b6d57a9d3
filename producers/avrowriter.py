"""Avro binary bodies for the wire records, written by code generated from each schema.

fastavro's writer interprets the schema for every record (a validation per union branch, a
dict lookup per field) and was ~45% of publishing (bench/README.md). The schemas here use a
handful of types (string, long, boolean, enum, [null, T], array and map of string, the
[record, string] payload union), so straight-line code per schema writes the same bytes in a
fraction of the time. A schema with any other type gets no writer and stays with fastavro.

The input is what `codec.wire_record` returns: values already checked against the schema (the
generated code trusts their types). Anything unexpected raises, and the codec then lets
fastavro write (or refuse) the record, so errors stay fastavro's. tests/unit/test_avro_writer.py
checks the bytes against fastavro's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .exceptions import GlanceKafkaError

Writer = Callable[[dict[str, Any]], bytes]

_SMALL = [bytes([i]) for i in range(128)]

#: A timestamp in microseconds since 1970 (zigzagged: 2**49 to 2**56, December 1978 to
#: September 3111) is an 8-byte varint: three 14-bit groups of two continued bytes each (_GROUP),
#: then the last two bytes (_LAST). Four lookups instead of varint()'s loop (~0.5 µs a record);
#: varint() uses them too.
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
    """A schema construct the generated writer leaves to fastavro."""


class _Generator:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"varint": varint, "LENGTH": _LENGTH,
                                           "GROUP": _GROUP, "LAST": _LAST}
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
        if kind == "record":
            self._name(avro_type)
            lines = []
            for field in avro_type["fields"]:
                f = self.var("f")
                if sources is not None:  # the field's value is in a local variable, or absent
                    lines += self._from_local(field, sources.get(field["name"]), f, ind)
                elif "default" in field:
                    lines.append(f"{ind}{f} = {v}.get({field['name']!r}, {field['default']!r})")
                else:
                    lines.append(f"{ind}{f} = {v}[{field['name']!r}]")
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
        return [f"{ind}{f} = {source}", f"{ind}if {f} is MISSING: raise KeyError({field['name']!r})"]

    def _name(self, named: dict[str, Any]) -> None:
        self.named[named["name"]] = named
        if "namespace" in named:
            self.named[f"{named['namespace']}.{named['name']}"] = named


def compile_writer(schema: dict[str, Any]) -> Writer | None:
    """write(wire record) -> Avro body, for a notification schema (as in avro/*.avsc); None when
    it uses a type this module does not write."""
    gen = _Generator()
    lines = ["def write(r):", "    parts = []", "    w = parts.append"]
    try:
        for field in schema["fields"]:
            f = gen.var("f")
            lines.append(f"    {f} = r[{field['name']!r}]")
            branches = field["type"]
            if (field["name"] == "payload" and isinstance(branches, list)
                    and any(isinstance(b, dict) for b in branches)):
                # [payload record, string]: the record comes as (full name, dict), a text
                # message as a string (codec.wire_record).
                if len(branches) != 2 or "string" not in branches:
                    raise _Unsupported(branches)
                record = next(b for b in branches if isinstance(b, dict))
                if record.get("type") != "record":
                    raise _Unsupported(record)
                lines += [f"    if type({f}) is tuple:",
                          f"        w({varint(branches.index(record) << 1)!r})",
                          f"        p = {f}[1]",
                          *gen.emit(record, "p", "        "),
                          "    else:",
                          f"        w({varint(branches.index('string') << 1)!r})",
                          *gen.emit("string", f, "        ")]
            else:
                lines += gen.emit(branches, f, "    ")
    except _Unsupported:
        return None
    lines.append("    return b''.join(parts)")
    namespace = gen.namespace

    exec(compile("\n".join(lines), f"<avro writer {schema.get('name')}>", "exec"), namespace)  # noqa: S102
    return namespace["write"]  # type: ignore[no-any-return]


#: The envelope fields compile_wire_writer takes from local variables of the same name.
_ENVELOPE = ("message_id", "publisher_id", "event_type", "priority", "timestamp")


def compile_wire_writer(schema: dict[str, Any], source: tuple[list[str], dict[str, Any],
                        dict[str, str]] | None) -> Callable[[dict[str, Any]], bytes | None] | None:
    """write(notification) -> Avro body, or None: the codec's checks and build
    (`codec.wire_source`) and this module's writer in one function, writing each value as it is
    checked instead of building the wire record first. It returns None (or raises) exactly
    where the wire record's fast path would not give a record, and otherwise the bytes
    compile_writer would write for that record. None for a schema it cannot write."""
    if source is None:
        return None
    prelude, namespace, payload_vars = source
    gen = _Generator()
    gen.namespace.update(namespace)
    lines = ["def write(n):", *prelude, "    parts = []", "    w = parts.append"]
    try:
        for field in schema["fields"]:
            name, branches = field["name"], field["type"]
            if name in _ENVELOPE:
                lines += gen.emit(branches, name, "    ")
            elif name == "payload" and isinstance(branches, list) and len(branches) == 2:
                record = next(b for b in branches if isinstance(b, dict))
                if record.get("type") != "record" or "string" not in branches:
                    raise _Unsupported(branches)
                # The fast path only takes a dict payload: the record branch.
                lines.append(f"    w({varint(branches.index(record) << 1)!r})")
                lines += gen.emit(record, "payload", "    ", payload_vars)
            else:
                raise _Unsupported(field)
    except (_Unsupported, StopIteration):
        return None
    lines.append("    return b''.join(parts)")
    exec(compile("\n".join(lines), f"<avro wire writer {schema.get('name')}>", "exec"),  # noqa: S102
         gen.namespace)
    return gen.namespace["write"]  # type: ignore[no-any-return]
