"""The deployment files: valid against their schemas, and consistent with the code they run.

No Docker engine or cluster is available, so this checks what can be checked offline: the
compose file against the Compose Specification's schema, every Kubernetes object against the
Kubernetes OpenAPI schemas (strict: unknown fields fail), and that every command, setting and
metric the files name exists in cdp.
"""

from __future__ import annotations

import base64
import importlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from prometheus_client import REGISTRY
from typer.main import get_command

from cdp.cli.main import app
from cdp.settings import DEVELOPMENT_DATA_KEY, Settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.33.0"
#: Modules whose import registers every metric the services expose.
METRIC_MODULES = (
    "cdp.observability.metrics",
    "cdp.ingest.observability",
    "cdp.profiles.observability",
    "cdp.activation.observability",
    "cdp.activation.destinations.metrics",
)


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted(KUBERNETES.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in _yaml_docs(path)
    ]


def _cdp_commands() -> set[str]:
    group = get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return doc


def test_compose_file_is_valid_compose_spec() -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    errors = [
        f"{e.json_path}: {e.message}"
        for e in jsonschema.Draft201909Validator(schema).iter_errors(_compose())
    ]
    assert errors == []


def test_compose_runs_real_commands_on_real_engines() -> None:
    services = _compose()["services"]
    commands = _cdp_commands()
    cdp_services = {name: s for name, s in services.items() if "build" in s}
    assert {"init", "collector", "processor", "relay", "api", "scheduler", "activation"} <= set(
        cdp_services
    )
    for name, service in cdp_services.items():
        assert service["command"][0] in commands, name
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in json.dumps(services["kafka"]).upper()


#: A data key as `openssl rand -base64 32` makes one.
REAL_KEY = base64.b64encode(bytes(range(100, 132))).decode()


def _interpolated(value: object, secret: str, data_key: str) -> str:
    """A compose value with `${NAME:?...}` / `${NAME:-default}` replaced by `secret`, or by
    `data_key` where the variable is a data key (base64 of 32 bytes)."""
    return re.sub(
        r"\$\{([A-Z_]+)[^}]*\}",
        lambda m: data_key if m.group(1) == "CDP_DATA_KEY" else secret,
        str(value),
    )


def test_compose_settings_are_cdp_settings_and_production_refuses_placeholders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = dict(_compose()["services"]["processor"]["environment"])
    assert all(key.startswith("CDP_") for key in env)
    fields = {f"CDP_{name.upper()}" for name in Settings.model_fields}
    for key in env:
        assert key.split("__")[0] in fields, key
    for key, value in env.items():
        monkeypatch.setenv(key, _interpolated(value, "changethis", DEVELOPMENT_DATA_KEY))
    with pytest.raises(ValueError, match="placeholder"):
        Settings()
    for key, value in env.items():
        monkeypatch.setenv(key, _interpolated(value, "a-real-secret-of-some-length", REAL_KEY))
    settings = Settings()
    assert settings.environment == "production"
    assert settings.metrics_port == 9100


@pytest.mark.parametrize(
    ("name", "doc"),
    [pytest.param(n, d, id=f"{n}:{d['kind']}") for n, d in _manifests() if "keda" not in n],
)
def test_kubernetes_objects_match_the_kubernetes_schemas(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_existing_files_and_keeps_the_example_secret_out() -> None:
    (kustomization,) = _yaml_docs(KUBERNETES / "kustomization.yaml")
    resources = kustomization["resources"]
    assert all((KUBERNETES / r).is_file() for r in resources)
    assert "secret.example.yaml" not in resources
    deployments = {d["metadata"]["name"] for _, d in _manifests() if d["kind"] == "Deployment"}
    assert deployments == {
        f"cdp-{s}" for s in ("collector", "api", "processor", "relay", "scheduler", "activation")
    }


def test_deployments_run_cdp_commands_with_probes_on_served_ports() -> None:
    commands = _cdp_commands()
    config = next(d for _, d in _manifests() if d["kind"] == "ConfigMap")["data"]
    for _, doc in _manifests():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        assert container["args"][0] in commands
        if doc["kind"] == "Job":
            continue
        port = int(doc["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
        served = {p["containerPort"] for p in container["ports"]}
        assert port in served
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] == port
        if port not in (8088, 8089):
            assert int(config["CDP_METRICS_PORT"]) == port


def test_singletons_are_replaced_never_doubled() -> None:
    for _, doc in _manifests():
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in (
            "cdp-relay",
            "cdp-scheduler",
        ):
            assert doc["spec"]["replicas"] == 1
            assert doc["spec"]["strategy"] == {"type": "Recreate"}


def test_keda_scales_the_processor_on_its_own_group_and_topic() -> None:
    (scaled,) = _yaml_docs(KUBERNETES / "processor-keda.yaml")
    defaults = Settings()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "cdp-processor"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == defaults.processor_group
    assert trigger["metadata"]["topic"] == defaults.topics.raw


def _metric_names() -> set[str]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names = set()
    for family in REGISTRY.collect():
        names |= {sample.name for sample in family.samples}
    return names


def _expressions() -> list[str]:
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    dashboard = json.loads((DEPLOY / "grafana" / "cdp-dashboard.json").read_text())
    return [r["expr"] for g in alerts["groups"] for r in g["rules"]] + [
        t["expr"] for p in dashboard["panels"] for t in p["targets"]
    ]


def test_alerts_and_dashboard_only_use_metrics_cdp_exposes() -> None:
    known = _metric_names() | {"up"}
    used = {m for expr in _expressions() for m in re.findall(r"\b(?:cdp_\w+|up)\b", expr)}
    # a labelled metric with no series yet has no samples: accept the names its series will have
    families = {f.name for f in REGISTRY.collect()} | {
        f"{f.name}{suffix}"
        for f in REGISTRY.collect()
        for suffix in (("_sum", "_count", "_bucket") if f.type == "histogram" else ("_total",))
    }
    assert used - known - families == set()


def test_alert_rules_are_well_formed() -> None:
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    for group in alerts["groups"]:
        for rule in group["rules"]:
            assert set(rule) >= {"alert", "expr", "labels", "annotations"}
            assert rule["labels"]["severity"] in ("warning", "critical")
    for scrape in ("prometheus.compose.yml", "prometheus.kubernetes.yml"):
        config = yaml.safe_load((DEPLOY / "prometheus" / scrape).read_text())
        assert config["scrape_configs"]
