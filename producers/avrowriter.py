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

Writer = Callable[[dict[str, Any]], bytes]

_SMALL = [bytes([i]) for i in range(128)]


def varint(n: int) -> bytes:
    """An unsigned varint (the caller zigzags signed values)."""
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


#: A string's length prefix (zigzag varint), for the common lengths.
_LENGTH = [varint(n << 1) for n in range(4096)]


class _Unsupported(Exception):
    pass


class _Generator:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"varint": varint, "LENGTH": _LENGTH}
        self.named: dict[str, Any] = {}
        self.n = 0

    def var(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def emit(self, avro_type: Any, v: str, ind: str) -> list[str]:
        """Lines writing the value in variable `v` as `avro_type`."""
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
        if kind == "long" and avro_type.get("logicalType") in (None, "timestamp-micros"):
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
                if "default" in field:
                    lines.append(f"{ind}{f} = {v}.get({field['name']!r}, {field['default']!r})")
                else:
                    lines.append(f"{ind}{f} = {v}[{field['name']!r}]")
                lines += self.emit(field["type"], f, ind)
            return lines
        raise _Unsupported(avro_type)

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
