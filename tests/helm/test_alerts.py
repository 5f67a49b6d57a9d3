"""The alert rules: `promtool check rules` and `promtool test rules` pass, every alert is unit
tested both firing and silent, and the PrometheusRule the chart renders is the same file."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from helm_support import CHART_DIR, load_yaml, manifests

FILES = CHART_DIR / "files"
ALERTS = FILES / "alerts.yaml"
ALERT_TESTS = FILES / "alerts.test.yaml"
REQUIRED_ALERTS = {
    "GlanceKafkaTaskFailureRatioHigh",
    "GlanceKafkaPartialDownloadRatioHigh",
    "GlanceKafkaDeadLetters",
    "GlanceKafkaConsumerLagGrowing",
    "GlanceKafkaWorkerDown",
}


def run_promtool(promtool: str, *args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in load_yaml(ALERTS)["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules(promtool: str) -> None:
    output = run_promtool(promtool, "check", "rules", ALERTS.name, cwd=FILES)
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_promtool_test_rules(promtool: str) -> None:
    output = run_promtool(promtool, "test", "rules", ALERT_TESTS.name, cwd=FILES)
    assert "SUCCESS" in output and "FAILED" not in output


def test_the_issue_alerts_exist_with_severity_and_text() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["alert"].startswith("GlanceKafka")


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    cases: dict[str, list[bool]] = {}
    for test in load_yaml(ALERT_TESTS)["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], []).append(bool(case["exp_alerts"]))
    for name in (r["alert"] for r in alert_rules()):
        assert True in cases.get(name, []), f"{name}: no unit test where it fires"
        assert False in cases.get(name, []), f"{name}: no unit test where it stays silent"


def test_rendered_prometheus_rule_passes_promtool(
    promtool: str, render: Any, tmp_path: Path
) -> None:
    values = load_yaml(CHART_DIR / "ci" / "production-values.yaml")
    (rule,) = [d for _, d in manifests(render(values)) if d["kind"] == "PrometheusRule"]
    rules_file = tmp_path / "rendered-rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    output = run_promtool(promtool, "check", "rules", rules_file.name, cwd=tmp_path)
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_rule_files_fail_promtool_when_broken(promtool: str, tmp_path: Path) -> None:
    """The promtool checks above can fail: a broken expression is reported."""
    broken = {"groups": [{"name": "x", "rules": [{"alert": "A", "expr": "sum(rate(x[5m])"}]}]}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    proc = subprocess.run(
        [promtool, "check", "rules", "broken.yaml"], cwd=tmp_path, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert proc.returncode != 0
