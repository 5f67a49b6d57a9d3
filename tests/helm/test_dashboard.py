"""The Grafana dashboard and the alert rules name only metrics the workers really export
(streams/metric_names.py, plus Prometheus' own `up`), with their real labels and types, and
every dashboard query parses as PromQL."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_support import CHART_DIR, load_yaml

DASHBOARD = CHART_DIR / "files" / "dashboard.json"
ALERTS = CHART_DIR / "files" / "alerts.yaml"
BUILTIN_METRICS = {"up": ("job", "instance")}
# Labels Prometheus adds to every scraped series (target labels of the ServiceMonitor included).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "app_kubernetes_io_component"}
KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)


def selected_metrics(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not functions,
    keywords, label names (in grouping clauses and matchers) or durations."""
    text = _strip_strings(expr)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # ranges and subqueries
    text = GROUPING.sub(" ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        name, call = m.group(1), m.group(2)
        if call or name in KEYWORDS:
            continue
        names.add(name)
    return names


def grouping_labels(expr: str) -> set[str]:
    labels = set()
    for _, body in GROUPING.findall(_strip_strings(expr)):
        labels |= {x.strip() for x in body.split(",") if x.strip()}
    return labels


def matcher_labels(expr: str) -> list[tuple[str, set[str]]]:
    found = []
    for name, body in SELECTOR.findall(expr):
        body = _strip_strings(body)
        found.append((name, set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", body))))
    return found


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def all_panels(node: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in node.get("panels", []):
        panels.append(panel)
        panels.extend(all_panels(panel))
    return panels


def dashboard_queries() -> list[tuple[str, str]]:
    queries = []
    for panel in all_panels(dashboard()):
        for target in panel.get("targets", []):
            queries.append((f"panel {panel['id']} {panel['title']!r}", target["expr"]))
    for var in dashboard()["templating"]["list"]:
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if var["type"] == "query":
            m = re.fullmatch(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)", query)
            assert m, f"variable {var['name']}: unexpected query {query!r}"
            # Checked as the selector it is: metric name and label.
            queries.append((f"variable {var['name']}", f"sum by ({m.group(2)}) ({m.group(1)})"))
    return queries


def alert_queries() -> list[tuple[str, str]]:
    return [
        (f"alert {r['alert']}", r["expr"])
        for g in load_yaml(ALERTS)["groups"]
        for r in g["rules"]
    ]


ALL_QUERIES = dashboard_queries() + alert_queries()


def test_extractor_finds_names_and_ignores_the_rest() -> None:
    expr = (
        'topk(10, sum by (project) (rate(glance_image_served_bytes_total{project=~"$project",'
        'outcome="partial"}[$__rate_interval]))) / on (project) group_left '
        "sum without (status) (bogus_metric_total offset 5m) > 0.5 and up{job=\"x\"} == 0 "
        "and deriv(sum by (topic) (glance_consumer_lag)[15m:1m]) > 1e3"
    )
    assert selected_metrics(expr) == {
        "glance_image_served_bytes_total", "bogus_metric_total", "up", "glance_consumer_lag",
    }
    assert grouping_labels(expr) == {"project", "status", "topic"}
    assert ("glance_image_served_bytes_total", {"project", "outcome"}) in matcher_labels(expr)


@pytest.mark.parametrize("where,expr", ALL_QUERIES, ids=[w for w, _ in ALL_QUERIES])
def test_queries_name_only_exported_metrics(
    exported_metrics: dict[str, Any], where: str, expr: str
) -> None:
    exported = {name: tuple(spec.labels) for name, spec in exported_metrics.items()}
    known = exported | BUILTIN_METRICS
    used = selected_metrics(expr)
    assert used, f"{where}: no metric found in {expr!r}"
    assert used <= set(known), f"{where}: unknown metrics {sorted(used - set(known))}"
    # Labels grouped by or matched on exist on the metrics involved.
    available = set(TARGET_LABELS)
    for name in used:
        available |= set(known[name])
    assert grouping_labels(expr) <= available, f"{where}: {grouping_labels(expr) - available}"
    for name, labels in matcher_labels(expr):
        assert labels <= set(known[name]) | TARGET_LABELS, f"{where}: {name} {labels}"


@pytest.mark.parametrize("where,expr", ALL_QUERIES, ids=[w for w, _ in ALL_QUERIES])
def test_counters_are_rated_and_gauges_are_not(
    exported_metrics: dict[str, Any], where: str, expr: str
) -> None:
    if where.startswith("variable "):
        return  # label_values() lists series: no rate needed there
    text = _strip_strings(expr)
    for name in selected_metrics(expr):
        if name in BUILTIN_METRICS:
            continue
        kind = exported_metrics[name].kind
        for m in re.finditer(rf"(?<![\w:]){re.escape(name)}(?![\w:])", text):
            wrapped = re.search(r"\b(rate|irate|increase)\(\s*$", text[: m.start()])
            if kind == "counter":
                assert wrapped, f"{where}: counter {name} used without rate()/increase()"
            else:
                assert not wrapped, f"{where}: gauge {name} inside {wrapped.group(1)}()"


def test_dashboard_covers_what_the_issue_asks() -> None:
    exprs = [e for _, e in dashboard_queries()]

    def has(*needles: str) -> bool:
        return any(all(n in e for n in needles) for e in exprs)

    assert has("glance_image_served_bytes_total", "by (project)")
    assert has("glance_image_downloaded_bytes_total", "by (project)")
    assert has('glance_image_downloads_total{outcome="partial"}')
    assert has("glance_task_failures_total", "by (task_type)")
    assert has("glance_notifications_total")
    assert has("glance_consumer_lag")
    assert has("glance_dead_letters_total")
    assert has("glance_worker_assigned_partitions")


def test_dashboard_is_well_formed() -> None:
    dash = dashboard()
    assert dash["uid"] == "glance-kafka" and dash["title"]
    panels = all_panels(dash)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel.get("description"), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


def test_dashboard_queries_parse_as_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses every dashboard query (Grafana variables replaced by sample values),
    each wrapped as a recording rule."""
    rules = []
    for i, (_, expr) in enumerate(dashboard_queries()):
        for var, value in GRAFANA_VARS.items():
            expr = expr.replace(var, value)
        expr = expr.replace("$project", ".*")
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    (tmp_path / "dashboard-queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    proc = subprocess.run(
        [promtool, "check", "rules", "dashboard-queries.yaml"], cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(rules)} rules found" in proc.stdout + proc.stderr
