"""The glance-kafka chart: renders, validates against Kubernetes and CRD schemas, lints, is
hardened, takes credentials only from an existing Secret, and rejects bad values."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
from helm_support import (
    CHART_DIR,
    CI_VALUES,
    CRD_SCHEMAS,
    NAMESPACE,
    RELEASE,
    REPO_ROOT,
    load_yaml,
    manifests,
)
from yamllint import linter
from yamllint.config import YamlLintConfig

# Oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest schemas shipped.
KUBE_VERSIONS = ["1.25.0", kubernetes_validate.utils.latest_version()]
CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
}
FULLNAME = f"{RELEASE}-glance-kafka"
MINIMAL = {"kafka": {"bootstrapServers": "kafka:9092"}}

YAMLLINT_RULES = """
extends: default
rules:
  line-length: {max: 120}
  document-start: disable
  indentation: {spaces: consistent, indent-sequences: whatever}
  truthy: {check-keys: false}
  comments: {min-spaces-from-content: 1}
"""
YAMLLINT = YamlLintConfig(YAMLLINT_RULES)
# Rendered output: the same, except that the embedded dashboard JSON has long query lines.
YAMLLINT_RENDERED = YamlLintConfig(YAMLLINT_RULES.replace("{max: 120}", "disable"))


def ci_values(name: str) -> dict[str, Any]:
    return load_yaml(CHART_DIR / "ci" / f"{name}-values.yaml")


def by_kind(docs: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for _, doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def pod_specs(docs: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for _, doc in docs:
        if doc["kind"] == "Deployment":
            specs.append((doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "Pod":
            specs.append((doc["metadata"]["name"], doc["spec"]))
    return specs


def container(doc: dict[str, Any]) -> dict[str, Any]:
    (only,) = doc["spec"]["template"]["spec"]["containers"]
    return only


def deployment(docs: list[tuple[str, dict[str, Any]]], component: str) -> dict[str, Any]:
    (found,) = [
        d
        for _, d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] == f"{FULLNAME}-{component}"
    ]
    return found


def validate_crd(doc: dict[str, Any]) -> None:
    schema = json.loads((CRD_SCHEMAS / CRDS[doc["apiVersion"], doc["kind"]]).read_text())
    jsonschema.Draft7Validator(schema).validate(doc)


@pytest.fixture(scope="module", params=[p.name.removesuffix("-values.yaml") for p in CI_VALUES])
def ci_render(request: pytest.FixtureRequest, render: Any) -> tuple[str, list]:
    name = request.param
    return name, manifests(render(ci_values(name)))


def test_two_ci_values_files_at_least() -> None:
    names = {p.name for p in CI_VALUES}
    assert {"minimal-values.yaml", "production-values.yaml"} <= names


def test_every_document_validates(ci_render: tuple[str, list]) -> None:
    """Built-in kinds against the strict Kubernetes schemas (unknown fields are errors) of the
    oldest supported and the newest version; ServiceMonitor/PrometheusRule against the CRDs."""
    name, docs = ci_render
    assert docs, f"{name}: nothing rendered"
    for template, doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key in CRDS:
            validate_crd(doc)
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name}: {template} ({doc['kind']}) invalid for {version}: {exc}")
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
        if doc["kind"] != "ConfigMap" or "dashboard" not in doc["metadata"]["name"]:
            assert doc["metadata"]["namespace"] == NAMESPACE


def test_minimal_renders_the_expected_objects(render: Any) -> None:
    kinds = by_kind(manifests(render(ci_values("minimal"))))
    assert sorted(kinds) == [
        "ConfigMap", "Deployment", "Pod", "PodDisruptionBudget", "Service", "ServiceAccount",
    ]
    assert [d["metadata"]["name"] for d in kinds["Deployment"]] == [f"{FULLNAME}-streams"]
    assert kinds["Deployment"][0]["spec"]["replicas"] == 2


def test_production_renders_the_expected_objects(render: Any) -> None:
    kinds = by_kind(manifests(render(ci_values("production"))))
    assert sorted(kinds) == [
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Pod", "PodDisruptionBudget",
        "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor",
    ]
    assert len(kinds["Deployment"]) == len(kinds["Service"]) == 2
    assert len(kinds["PodDisruptionBudget"]) == 2
    assert len(kinds["ConfigMap"]) == 2  # settings and dashboard
    # With the HPA on, the Deployment leaves the replica count to it.
    streams = [d for d in kinds["Deployment"] if d["metadata"]["name"].endswith("-streams")][0]
    assert "replicas" not in streams["spec"]
    (hpa,) = kinds["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == streams["metadata"]["name"]
    assert hpa["spec"]["maxReplicas"] <= ci_values("production")["streams"]["partitions"]


def test_lint(ci_render: tuple[str, list]) -> None:
    name, _ = ci_render
    report = helm_python.lint(CHART_DIR, ci_values(name), strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


def test_yamllint_sources_and_rendered_output(render: Any) -> None:
    sources = [
        CHART_DIR / "Chart.yaml", CHART_DIR / "values.yaml", *CI_VALUES,
        CHART_DIR / "files" / "alerts.yaml", CHART_DIR / "files" / "alerts.test.yaml",
    ]
    texts = {str(p.relative_to(REPO_ROOT)): (p.read_text(), YAMLLINT) for p in sources}
    for name in ("minimal", "production"):
        for template, text in render(ci_values(name)).items():
            if not template.endswith("NOTES.txt") and text.strip():
                # Helm trims each template's output before printing it; so does this test.
                texts[f"{name}:{template}"] = (text.strip() + "\n", YAMLLINT_RENDERED)
    problems = [
        f"{where}:{p.line}: {p.desc}"
        for where, (text, config) in texts.items()
        for p in linter.run(text, config)
    ]
    assert problems == [], "\n".join(problems)


def test_pods_are_hardened(ci_render: tuple[str, list]) -> None:
    _, docs = ci_render
    specs = pod_specs(docs)
    assert specs
    for name, spec in specs:
        assert spec["automountServiceAccountToken"] is False, name
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] != 0, name
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for ctr in spec["containers"]:
            sc = ctr["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["privileged"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            # Everything writable is an emptyDir; secrets are mounted read-only.
            volumes = {v["name"]: v for v in spec["volumes"]}
            for mount in ctr.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                assert "emptyDir" in volume or mount.get("readOnly") is True, (name, mount)
    for _, doc in docs:
        if doc["kind"] == "ServiceAccount":
            assert doc["automountServiceAccountToken"] is False


def test_worker_has_writable_data_dir_and_meaningful_probes(render: Any) -> None:
    docs = manifests(render(MINIMAL))
    doc = deployment(docs, "streams")
    ctr = container(doc)
    args = ctr["args"]
    assert args[0] == "stream"
    assert "--data-dir=/var/lib/glance-kafka" in args and "--metrics-port=9108" in args
    assert "--host=0.0.0.0" in args and "--web-port=6066" in args
    mounts = {m["mountPath"]: m["name"] for m in ctr["volumeMounts"]}
    volumes = {v["name"]: v for v in doc["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts["/var/lib/glance-kafka"]]
    pod_tmp = "/tmp"  # noqa: S108 - the path inside the container, backed by an emptyDir
    assert "emptyDir" in volumes[mounts[pod_tmp]]
    (settings,) = [d for _, d in docs if d["kind"] == "ConfigMap"]
    assert settings["data"]["HOME"] == settings["data"]["TMPDIR"] == pod_tmp
    assert settings["data"]["GLANCE_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # Readiness means "partitions assigned" (/ready); liveness is the loop being alive.
    assert ctr["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    assert ctr["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert ctr["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    assert ports == {"metrics": 9108, "web": 6066}
    assert {"configMapRef": {"name": FULLNAME}} in ctr["envFrom"]


def test_credentials_come_only_from_the_existing_secret(render: Any) -> None:
    values = ci_values("production")
    docs = manifests(render(values))
    assert not [d for _, d in docs if d["kind"] == "Secret"], "the chart must not create Secrets"
    secret = values["kafka"]["existingSecret"]
    for component in ("streams", "bridge"):
        ctr = container(deployment(docs, component))
        env = {e["name"]: e for e in ctr["env"]}
        for var, key in [
            ("GLANCE_KAFKA_SASL_USERNAME", "sasl-username"),
            ("GLANCE_KAFKA_SASL_PASSWORD", "sasl-password"),
            ("GLANCE_KAFKA_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "schema-registry-user-info"),
        ]:
            assert env[var] == {
                "name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}},
            }
        assert all("value" not in e for e in ctr["env"])
    (settings,) = [
        d for _, d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == FULLNAME
    ]
    data = settings["data"]
    assert data["GLANCE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert data["GLANCE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert data["GLANCE_KAFKA_SSL_CA_LOCATION"] == "/etc/glance-kafka/tls/ca.crt"
    assert not [k for k in data if re.search("PASSWORD|USERNAME|USER_INFO", k)]
    # The CA comes from the Secret as a read-only file.
    spec = deployment(docs, "streams")["spec"]["template"]["spec"]
    (tls,) = [v for v in spec["volumes"] if v["name"] == "kafka-tls"]
    assert tls["secret"]["secretName"] == secret
    assert tls["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]


def test_tls_client_certificate_and_key_password(render: Any) -> None:
    values = {
        "kafka": {
            "bootstrapServers": "kafka:9093", "securityProtocol": "SSL",
            "existingSecret": "kafka-client",
            "secretKeys": {"sslKeyPassword": "key-password"},
            "tls": {"enabled": True, "certKey": "tls.crt", "keyKey": "tls.key"},
        }
    }
    docs = manifests(render(values))
    ctr = container(deployment(docs, "streams"))
    env = {e["name"]: e for e in ctr["env"]}
    assert set(env) == {"GLANCE_KAFKA_SSL_KEY_PASSWORD"}
    (settings,) = [d for _, d in docs if d["kind"] == "ConfigMap"]
    assert settings["data"]["GLANCE_KAFKA_SSL_KEY_LOCATION"] == "/etc/glance-kafka/tls/tls.key"
    for _, doc in docs:
        if doc["kind"] in ("Deployment", "ConfigMap"):
            kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)


def test_rabbit_tap_takes_its_transport_url_from_the_secret(render: Any) -> None:
    values = ci_values("rabbit")
    docs = manifests(render(values))
    assert not [d for _, d in docs if d["kind"] == "Secret"], "the chart must not create Secrets"
    bridge = deployment(docs, "bridge")
    ctr = container(bridge)
    args = ctr["args"]
    assert args[:2] == ["bridge", "--bootstrap-servers=$(GLANCE_KAFKA_BOOTSTRAP_SERVERS)"]
    assert {"--exchange=glance", "--topics=notifications,glance_kafka", "--pool=glance-kafka",
            "--batch-size=500", "--priorities=info,warn,error",
            "--config-file=/etc/glance-kafka/oslo/glance-kafka.conf"} <= set(args)
    assert not [a for a in args if "rabbit://" in a or a.startswith("--source-topics")]
    env = {e["name"]: e for e in ctr["env"]}
    assert env["GLANCE_KAFKA_TRANSPORT_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "glance-rabbit", "key": "transport-url"}}
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/ready"
    # [oslo_messaging_rabbit] from values, TLS pointing at the CA mounted from the Secret.
    (oslo,) = [d for _, d in docs
               if d["kind"] == "ConfigMap" and d["metadata"]["name"] == f"{FULLNAME}-bridge-oslo"]
    conf = oslo["data"]["glance-kafka.conf"].splitlines()
    assert conf[0] == "[oslo_messaging_rabbit]"
    assert {"ssl = true", "ssl_ca_file = /etc/glance-kafka/rabbit-tls/ca.crt",
            "amqp_durable_queues = true", "heartbeat_timeout_threshold = 60"} == set(conf[1:])
    mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
    assert mounts["oslo-config"] == "/etc/glance-kafka/oslo"
    assert mounts["rabbit-tls"] == "/etc/glance-kafka/rabbit-tls"
    volumes = {v["name"]: v for v in bridge["spec"]["template"]["spec"]["volumes"]}
    assert volumes["rabbit-tls"]["secret"]["secretName"] == "glance-rabbit"
    assert volumes["oslo-config"]["configMap"]["name"] == f"{FULLNAME}-bridge-oslo"


def test_the_oslo_config_file_is_one_oslo_config_reads(render: Any, tmp_path: Path) -> None:
    """What the chart writes is what the tap's --config-file expects: oslo.config parses it."""
    from oslo_config import cfg

    docs = manifests(render(ci_values("rabbit")))
    (oslo,) = [d for _, d in docs if d["metadata"]["name"] == f"{FULLNAME}-bridge-oslo"]
    path = tmp_path / "glance-kafka.conf"
    path.write_text(oslo["data"]["glance-kafka.conf"])
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.BoolOpt("ssl"), cfg.StrOpt("ssl_ca_file"),
                        cfg.BoolOpt("amqp_durable_queues"),
                        cfg.IntOpt("heartbeat_timeout_threshold")], group="oslo_messaging_rabbit")
    conf(args=[], default_config_files=[str(path)])
    group = conf.oslo_messaging_rabbit
    assert group.ssl is True and group.ssl_ca_file == "/etc/glance-kafka/rabbit-tls/ca.crt"
    assert group.amqp_durable_queues is True and group.heartbeat_timeout_threshold == 60


def test_kafka_bridge_is_unchanged_by_the_rabbit_values(render: Any) -> None:
    docs = manifests(render(_with(MINIMAL, "bridge.enabled", True)))
    ctr = container(deployment(docs, "bridge"))
    assert "--source-topics=notifications.info,notifications.warn,notifications.error" in ctr["args"]
    assert not [a for a in ctr["args"] if a.startswith(("--pool", "--exchange", "--config-file"))]
    assert "GLANCE_KAFKA_TRANSPORT_URL" not in {e["name"] for e in ctr.get("env", [])}
    assert not [d for _, d in docs if d["metadata"]["name"].endswith("-bridge-oslo")]


def test_service_monitor_and_alerts_agree_on_job_and_port(render: Any) -> None:
    docs = manifests(render(ci_values("production")))
    kinds = by_kind(docs)
    (monitor,) = kinds["ServiceMonitor"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = kinds["Service"]
    for svc in services:
        assert selector.items() <= svc["metadata"]["labels"].items()
        assert "metrics" in {p["name"] for p in svc["spec"]["ports"]}
        # Unready workers keep being scraped: lag and partitions are what tell why.
        assert svc["spec"]["publishNotReadyAddresses"] is True
        # The ServiceMonitor takes job from this label; the alerts select job="glance-kafka".
        assert svc["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "glance-kafka"
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = (CHART_DIR / "files" / "alerts.yaml").read_text()
    assert 'job="glance-kafka"' in alerts


def test_prometheus_rule_wraps_the_alerts_file(render: Any) -> None:
    values = copy.deepcopy(ci_values("production"))
    source = load_yaml(CHART_DIR / "files" / "alerts.yaml")
    alerts = [r["alert"] for g in source["groups"] for r in g["rules"]]
    (rule,) = by_kind(manifests(render(values)))["PrometheusRule"]
    rendered = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert [r["alert"] for r in rendered] == alerts
    assert all(r["labels"]["team"] == "storage" and "severity" in r["labels"] for r in rendered)
    source_rules = {r["alert"]: r for g in source["groups"] for r in g["rules"]}
    for r in rendered:
        assert r["expr"] == source_rules[r["alert"]]["expr"]
        assert r["annotations"] == source_rules[r["alert"]]["annotations"]

    values["metrics"]["prometheusRule"]["disabledAlerts"] = ["GlanceKafkaDeadLetters"]
    values["metrics"]["prometheusRule"]["additionalGroups"] = [
        {"name": "site", "rules": [{"alert": "SiteAlert", "expr": "vector(1)"}]}
    ]
    (rule,) = by_kind(manifests(render(values)))["PrometheusRule"]
    names = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert "GlanceKafkaDeadLetters" not in names and names[-1] == "SiteAlert"
    validate_crd(rule)


def test_dashboard_configmap_carries_the_dashboard(render: Any) -> None:
    docs = manifests(render(ci_values("production")))
    (cm,) = [d for _, d in docs if d["metadata"]["name"] == f"{FULLNAME}-dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(cm["data"]["glance-kafka.json"])
    assert shipped == json.loads((CHART_DIR / "files" / "dashboard.json").read_text())


def test_helm_test_hook_scrapes_metrics(render: Any) -> None:
    docs = manifests(render({**MINIMAL, "metrics": {"port": 9200}}))
    (pod,) = [d for _, d in docs if d["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    command = pod["spec"]["containers"][0]["command"]
    assert f"http://{FULLNAME}-streams.{NAMESPACE}.svc:9200/metrics" in command
    assert "glance_worker_assigned_partitions" in command
    assert pod["spec"]["restartPolicy"] == "Never"


def test_notes_tell_how_to_reach_metrics(render: Any) -> None:
    notes = render(MINIMAL)["glance-kafka/templates/NOTES.txt"]
    assert f"port-forward svc/{FULLNAME}-streams 9108:9108" in notes
    assert "curl -s http://127.0.0.1:9108/metrics" in notes
    assert f"http://{FULLNAME}-streams.{NAMESPACE}.svc:9108/metrics" in notes
    assert f"helm test {RELEASE}" in notes
    node_port = {**MINIMAL, "metrics": {"service": {"type": "NodePort"}}}
    assert "nodePort" in render(node_port)["glance-kafka/templates/NOTES.txt"]


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    values = copy.deepcopy(base)
    node = values
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return values


# (values, where the error is caught, text the error must contain)
BAD_VALUES = {
    "negative replicas": (_with(MINIMAL, "streams.replicaCount", -1), "/streams/replicaCount"),
    "negative bridge replicas": (
        _with(MINIMAL, "bridge.replicaCount", -2), "/bridge/replicaCount"),
    "string port": (_with(MINIMAL, "metrics.port", "9108"), "/metrics/port"),
    "port out of range": (_with(MINIMAL, "metrics.port", 70000), "/metrics/port"),
    "string replicas": (_with(MINIMAL, "streams.replicaCount", "3"), "/streams/replicaCount"),
    "missing bootstrap address": ({}, "kafka.bootstrapServers is required"),
    "empty bootstrap address": (
        _with(MINIMAL, "kafka.bootstrapServers", ""), "kafka.bootstrapServers is required"),
    "bootstrap address without port": (
        _with(MINIMAL, "kafka.bootstrapServers", "kafka"), "/kafka/bootstrapServers"),
    "unknown security protocol": (
        _with(MINIMAL, "kafka.securityProtocol", "TLS"), "/kafka/securityProtocol"),
    "password in clear": (_with(MINIMAL, "kafka.saslPassword", "hunter2"), "saslPassword"),
    "SASL without a Secret": (
        _with(_with(MINIMAL, "kafka.securityProtocol", "SASL_SSL"), "kafka.saslMechanism",
              "PLAIN"), "kafka.existingSecret is required"),
    "SASL without a mechanism": (
        _with(_with(MINIMAL, "kafka.securityProtocol", "SASL_PLAINTEXT"),
              "kafka.existingSecret", "creds"), "kafka.saslMechanism is required"),
    "TLS files with PLAINTEXT": (
        _with(_with(MINIMAL, "kafka.tls.enabled", True), "kafka.existingSecret", "creds"),
        "needs securityProtocol SSL or SASL_SSL"),
    "more workers than partitions": (
        _with(MINIMAL, "streams.replicaCount", 7), "exceeds streams.partitions"),
    "autoscaling beyond partitions": (
        _with(_with(MINIMAL, "streams.autoscaling.enabled", True),
              "streams.autoscaling.maxReplicas", 9), "maxReplicas (9) exceeds"),
    "typo in a key": (_with(MINIMAL, "streams.replicas", 2), "replicas"),
    "bad service type": (
        _with(MINIMAL, "metrics.service.type", "Ingress"), "/metrics/service/type"),
    "unknown bridge source": (_with(MINIMAL, "bridge.source", "amqp"), "/bridge/source"),
    "rabbit source without a Secret": (
        _with(_with(MINIMAL, "bridge.enabled", True), "bridge.source", "rabbit"),
        "bridge.rabbit.existingSecret is required"),
    "unknown rabbit priority": (
        _with(MINIMAL, "bridge.rabbit.priorities", ["notice"]), "/bridge/rabbit/priorities"),
    "rabbit options with the kafka source": (
        _with(_with(MINIMAL, "bridge.enabled", True), "bridge.rabbit.tls.enabled", True),
        "apply to bridge.source rabbit only"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_bad_values_are_rejected(render: Any, case: str) -> None:
    values, expected = BAD_VALUES[case]
    with pytest.raises((helm_python.HelmValuesError, helm_python.HelmRenderError)) as err:
        render(values)
    assert expected in str(err.value)


def test_good_values_still_render(render: Any) -> None:
    """The bad-values cases fail for their own reason: their base renders."""
    assert manifests(render(MINIMAL))
    assert manifests(render(_with(MINIMAL, "streams.replicaCount", 0)))


def _leaf_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [p for k, v in node.items() for p in _leaf_paths(v, f"{prefix}.{k}".lstrip("."))]
    return [prefix]


def _schema_has(schema: dict[str, Any], path: str) -> bool:
    node = schema
    for key in path.split("."):
        if "properties" not in node:
            break  # a free-form map (labels, resources): its own keys are the user's
        if key not in node["properties"]:
            return False
        node = node["properties"][key]
    return "description" in node


def test_every_value_is_documented_and_in_the_schema() -> None:
    values = load_yaml(CHART_DIR / "values.yaml")
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    leaves = _leaf_paths(values)
    assert len(leaves) > 80
    assert [p for p in leaves if not _schema_has(schema, p)] == []
    # helm-docs: every leaf key has a `# --` comment block right above it; the keys inside a
    # documented map (e.g. dashboard.labels) are examples, not settings.
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    undocumented = []
    parents: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z_][\w-]*):(.*)$", line)
        if not m:
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3)
        while parents and parents[-1][0] >= indent:
            parents.pop()
        j, block = i - 1, []
        while j >= 0 and lines[j].strip().startswith("#"):
            block.append(lines[j].strip())
            j -= 1
        documented = any(c.startswith("# --") for c in block)
        following = next(
            (ln for ln in lines[i + 1:] if ln.strip() and not ln.lstrip().startswith("#")), "")
        is_parent = not rest.strip() and (
            len(following) - len(following.lstrip()) > indent
            and not following.lstrip().startswith("- ")
        )
        in_documented_map = bool(parents) and parents[-1][1]
        if not is_parent and not documented and not in_documented_map:
            undocumented.append(f"values.yaml:{i + 1}: {key}")
        parents.append((indent, documented))
    assert undocumented == []


def test_dockerfile_runs_as_the_charts_non_root_user() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users, "Dockerfile sets no USER"
    final_user = users[-1].split(":")[0]
    assert final_user not in ("root", "0")
    values = load_yaml(CHART_DIR / "values.yaml")
    assert final_user == str(values["podSecurityContext"]["runAsUser"])
    assert re.search(r'^ENTRYPOINT \["glance-kafka"\]', dockerfile, re.M)
    assert "pip install" in dockerfile


def test_chart_metadata() -> None:
    meta = load_yaml(CHART_DIR / "Chart.yaml")
    assert meta["apiVersion"] == "v2" and meta["name"] == "glance-kafka"
    assert meta["type"] == "application"
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.M)
    assert version and meta["appVersion"] == version.group(1)


def test_crd_schemas_reject_unknown_fields() -> None:
    """The kept CRD schemas are strict, so a typo in a ServiceMonitor fails the tests."""
    bad = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "endpoints": [{"port": "metrics", "intervall": "30s"}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        validate_crd(bad)
    for path in Path(CRD_SCHEMAS).glob("*.json"):
        jsonschema.Draft7Validator.check_schema(json.loads(path.read_text()))


def test_readme_lists_every_value() -> None:
    readme = (CHART_DIR / "README.md").read_text()
    values = load_yaml(CHART_DIR / "values.yaml")
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    documented = [p for p in _leaf_paths(values) if _schema_has(schema, p)]
    # A key inside a free-form map (dashboard.labels.grafana_dashboard) is listed as its map.
    missing = [
        p for p in documented
        if f"`{p}`" not in readme and f"`{p.rsplit('.', 1)[0]}`" not in readme
    ]
    assert missing == []
