"""The one place generated Python is compiled and run.

The Avro codec (schemacodec.py) and the stream worker's row plans (streams/rowplan.py,
streams/rows.py) turn their tables into straight-line functions because interpreting them per
record was the hot path's largest cost (bench/README.md). The source they run is built from this
project's own schemas and rule table, never from input; one exec site keeps that easy to audit.
"""

from __future__ import annotations

from typing import Any


def define(lines: list[str] | str, filename: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Compile and run generated source in `namespace`, and return the namespace."""
    source = lines if isinstance(lines, str) else "\n".join(lines)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated source
    return namespace
