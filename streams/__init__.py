"""The stream side (the [streams] extra): Faust workers that keep exact aggregates of the
per-type topics and export them as Prometheus metrics.

What users import is named in `__all__`; the rest is internal. The names are loaded on first
use, so importing one light module of the package (the metric names, the rule table, the demo's
simulator) does not start Faust.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: public name -> the module that defines it
_PUBLIC = {
    "Aggregator": "streams.aggregates",
    "BatchResult": "streams.aggregates",
    "METRICS": "streams.metric_names",
    "MetricSpec": "streams.metric_names",
    "Pipeline": "streams.app",
    "RULES": "streams.rows",
    "RowKey": "streams.rows",
    "Rule": "streams.rows",
    "StreamOptions": "producers.options",
    "build": "streams.app",
    "run_worker": "streams.worker",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'streams' has no attribute {name!r}")
    return getattr(import_module(module), name)
