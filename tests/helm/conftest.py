"""Shared fixtures for the Helm chart, alert and dashboard tests.

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
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "glance-kafka"
CI_VALUES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
CRD_SCHEMAS = Path(__file__).resolve().parent / "crd-schemas"
RELEASE = "rel"
NAMESPACE = "glance"

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="session")
def chart() -> Iterator[Any]:
    import helm_python

    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


Rendered = dict[str, str]


@pytest.fixture(scope="session")
def render(chart: Any) -> Callable[[dict[str, Any] | None], Rendered]:
    """Render the chart with the given values; returns {template path: rendered text}."""

    def _render(values: dict[str, Any] | None) -> Rendered:
        return chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)

    return _render


def manifests(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes document of a render, with the template it came from (NOTES excluded)."""
    docs = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                docs.append((template, doc))
    return docs


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
def metric_names() -> dict[str, Any]:
    from streams.metric_names import METRICS

    return METRICS
