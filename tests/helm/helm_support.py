"""Paths and helpers shared by the Helm chart, alert and dashboard tests (fixtures are in
conftest.py). A module with its own name, so that `import` finds it whatever other
conftest.py files the test suite has."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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


Rendered = dict[str, str]


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
