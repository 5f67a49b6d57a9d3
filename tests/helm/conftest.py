"""Fixtures for the Helm chart, alert and dashboard tests.

The chart is rendered in-process by helm-python-sdk (Helm v4's own template engine and
values.schema.json check, no helm binary, no cluster).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# helm_support sits beside this file; make it importable under any pytest import mode.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from helm_support import CHART_DIR, NAMESPACE, RELEASE, Rendered  # noqa: E402


@pytest.fixture(scope="session")
def chart() -> Iterator[Any]:
    import helm_python

    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def render(chart: Any) -> Callable[[dict[str, Any] | None], Rendered]:
    """Render the chart with the given values; returns {template path: rendered text}."""

    def _render(values: dict[str, Any] | None) -> Rendered:
        return chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)

    return _render


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: run `bash scripts/ensure-system-deps` "
            "(Debian package `prometheus`) before the helm tests",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def exported_metrics() -> dict[str, Any]:
    """streams/metric_names.py's METRICS: name -> (kind, labels, help)."""
    from streams.metric_names import METRICS

    return METRICS
