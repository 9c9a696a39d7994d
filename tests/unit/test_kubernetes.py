"""deploy/kubernetes/ validates, passes checkov, and agrees with the code: settings, commands, ports, sizing.

No cluster, kustomize or Docker: tests/support/kustomize.py resolves each kustomization as `kubectl apply -k`
would, kubernetes-validate checks every built-in object against one pinned Kubernetes release, the custom
resources (KEDA, Prometheus Operator) are checked against the fields their documentation requires, and checkov
runs from its own venv (the Makefile's `checkov` target) as a subprocess.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.cli.main import main as smartedit
from app.config import Settings
from tests.support.kustomize import BUILTIN_API_VERSIONS, Object, build

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
# The oldest release still supported by the big managed services when this was written; the manifests use
# nothing newer (autoscaling/v2, policy/v1, the preStop sleep action of 1.30).
KUBERNETES_VERSION = "1.31"
CHECKOV = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"
AWS_CLIENT_VARS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}  # read by botocore itself
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PodMonitor"}

# What each way of applying them gives: base (managed services, no optional component), base with the worker HPA
# (clusters without KEDA), the local overlay (the README's quick start) and the managed one (KEDA, monitoring).
RENDERS: dict[str, tuple[Path, tuple[Path, ...]]] = {
    "base": (K8S / "base", ()),
    "base+worker-hpa": (K8S / "base", (K8S / "components" / "worker-hpa",)),
    "local": (K8S / "overlays" / "local", ()),
    "managed": (K8S / "overlays" / "managed", ()),
}

# Sizing figures (deploy/kubernetes/base/worker.yaml says where each comes from).
FFMPEG_PEAK_RSS_MB = 869  # `make bench`, (c): summed RSS of one job's ffmpeg processes, 1080p30
WORKER_PYTHON_RSS_MB = 301  # `make bench-analysis`, row (3): the worker with the face detector loaded
CLOSING_SECONDS = 10  # after the runner's SHUTDOWN_GRACE_SECONDS wait: the LISTEN connection (2 s), pools, Redis
REEL_ALLOWANCE_BYTES = 4 << 30  # clips, reel and thumbnail beside the staged source in TEMP_DIR

# Every checkov failure we accept, by render and check, and why. The test fails on any other failure and on a
# listed one that no longer fails, so this list is exactly what is skipped.
_APP = ("smartedit-api", "smartedit-worker", "smartedit-migrate")
_EVERYWHERE: dict[str, tuple[str, ...]] = {
    # The image is built from this repository's Dockerfile by whoever deploys it: there is no published digest to
    # pin. Production pins one with `kustomize edit set image smartedit=<registry>/smartedit@sha256:...`.
    "CKV_K8S_43": _APP,
    # Settings reads its configuration from environment variables only (app/config/settings.py, one place);
    # the secrets arrive as env vars from a Secret, never in the manifests, and no file-reading path exists.
    "CKV_K8S_35": _APP,
}
CHECKOV_ACCEPTED: dict[str, dict[str, tuple[str, ...]]] = {
    "base": _EVERYWHERE,
    "base+worker-hpa": _EVERYWHERE,
    "managed": _EVERYWHERE,
    "local": {
        # As everywhere, and for the stores' public images too: a local cluster follows their tags.
        "CKV_K8S_43": (*_APP, "postgres", "redis", "minio", "minio-bucket"),
        # The stores' official images take their passwords from env vars as well.
        "CKV_K8S_35": (*_APP, "postgres", "redis", "minio", "minio-bucket"),
        # The app image is built locally and loaded into kind/minikube (`kind load docker-image`): Always would
        # look for it in a registry that does not have it.
        "CKV_K8S_15": _APP,
        # The official postgres and redis images run as their own user, 999, which owns their data directories;
        # a high UID guards against colliding with a host user, and these pods mount nothing of the host.
        "CKV_K8S_40": ("postgres", "redis"),
    },
}


def _make_env_text() -> str:
    spec = importlib.util.spec_from_file_location("make_env", ROOT / "scripts" / "make_env.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.env_text()
    return text


@pytest.fixture(scope="module")
def renders() -> dict[str, list[Object]]:
    """Each render's objects; an overlay's git-ignored .env is what scripts/make_env.py writes."""
    env_files = {".env": _make_env_text()}
    return {name: build(path, env_files=env_files, components=extra) for name, (path, extra) in RENDERS.items()}


def _one(objects: list[Object], kind: str, name: str) -> Object:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _pod_specs(objects: list[Object]) -> Iterator[tuple[Object, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield obj, obj["spec"]["template"]["spec"]


def _container(objects: list[Object], deployment: str) -> dict[str, Any]:
    (container,) = _one(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return container


def _config(objects: list[Object]) -> dict[str, str]:
    data: dict[str, str] = _one(objects, "ConfigMap", "smartedit-config")["data"]
    return data


def _secret(objects: list[Object]) -> dict[str, str] | None:
    found = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "smartedit-secrets"]
    return {k: base64.b64decode(v).decode() for k, v in found[0]["data"].items()} if found else None


def _env(objects: list[Object], container: dict[str, Any]) -> dict[str, str | None]:
    """The container's environment: its ConfigMaps' keys, then its own entries (a Secret's value or None)."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env |= _one(objects, "ConfigMap", source["configMapRef"]["name"])["data"]
    secret = _secret(objects) or {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secret.get(ref["key"])
    return env


def _quantity_bytes(quantity: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9}
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * units.get(unit, 1)


def _cpu(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _settings(env: dict[str, str | None]) -> Settings:
    values = {k.lower(): v for k, v in env.items() if v is not None and k not in AWS_CLIENT_VARS}
    return Settings.model_validate(values)


# --- schemas -------------------------------------------------------------------------------------


@pytest.mark.parametrize("render", RENDERS)
def test_every_builtin_object_validates_against_the_pinned_kubernetes(
    renders: dict[str, list[Object]], render: str
) -> None:
    errors = []
    for obj in renders[render]:
        if obj["apiVersion"] not in BUILTIN_API_VERSIONS:
            assert obj["kind"] in CUSTOM_KINDS, f"{obj['kind']}: neither built in nor structurally tested"
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


def test_the_validator_is_strict_at_the_pinned_version(renders: dict[str, list[Object]]) -> None:
    # The check above would pass on anything if the schema were lax: a misspelt field must fail it.
    worker = json.loads(json.dumps(_one(renders["base"], "Deployment", "smartedit-worker")))
    worker["spec"]["template"]["spec"]["terminationGracePeriod"] = 70
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(worker, KUBERNETES_VERSION, strict=True)


def test_every_namespaced_object_lands_in_the_namespace(renders: dict[str, list[Object]]) -> None:
    for objects in renders.values():
        for obj in objects:
            expected = None if obj["kind"] == "Namespace" else "smartedit"
            assert obj["metadata"].get("namespace") == expected, f"{obj['kind']}/{obj['metadata']['name']}"


# --- custom resources, against the fields their documentation requires ----------------------------


def test_keda_scaled_object_scales_the_workers_on_the_job_table(renders: dict[str, list[Object]]) -> None:
    objects = renders["managed"]
    scaled = _one(objects, "ScaledObject", "smartedit-worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    # scaleTargetRef.name is mandatory (KEDA's ScaledObject specification); kind and apiVersion default to a Deployment.
    target = spec["scaleTargetRef"]
    assert (target.get("apiVersion", "apps/v1"), target.get("kind", "Deployment")) == ("apps/v1", "Deployment")
    _one(objects, "Deployment", target["name"])
    assert target["name"] == "smartedit-worker"
    assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "postgresql"
    assert trigger["metricType"] == "AverageValue"
    meta = trigger["metadata"]
    # The postgresql scaler's parameters: host, port, userName, dbName, sslmode, query, targetQueryValue, all strings.
    assert {"host", "port", "userName", "dbName", "sslmode", "query", "targetQueryValue"} <= set(meta)
    assert all(isinstance(value, str) for value in meta.values())
    config = _config(objects)
    assert meta["host"] in (config["POSTGRES_HOST"], f"{config['POSTGRES_HOST']}.smartedit.svc.cluster.local")
    assert (meta["port"], meta["userName"], meta["dbName"]) == (
        config["POSTGRES_PORT"],
        config["POSTGRES_USER"],
        config["POSTGRES_DB"],
    )
    assert meta["sslmode"] == "require"  # a managed database, over the network
    # One job per worker pod.
    concurrency = _env(objects, _container(objects, "smartedit-worker"))["WORKER_CONCURRENCY"]
    assert float(meta["targetQueryValue"]) == float(concurrency or "nan")
    # The query names the job table and statuses the schema has.
    schema = (ROOT / "migrations" / "001_jobs.sql").read_text()
    statuses = re.findall(r"'(\w+)'", re.search(r"status IN \(([^)]*)\)", meta["query"]).group(1))  # type: ignore[union-attr]
    assert set(statuses) == {"queued", "running"}
    assert all(f"'{s}'" in schema for s in statuses) and "FROM jobs" in meta["query"]
    # Its password comes through a TriggerAuthentication from the app's own Secret key.
    auth = _one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "password" and ref["name"] == "smartedit-secrets"
    assert ref["key"] in (_secret(objects) or {})


def test_the_local_scaler_speaks_to_the_local_postgres(renders: dict[str, list[Object]]) -> None:
    objects = build(
        K8S / "overlays" / "local", env_files={".env": _make_env_text()}, components=(K8S / "components" / "keda",)
    )
    meta = _one(objects, "ScaledObject", "smartedit-worker")["spec"]["triggers"][0]["metadata"]
    assert meta["host"] == "postgres.smartedit.svc.cluster.local" and meta["sslmode"] == "disable"
    _one(objects, "Service", "postgres")


def test_one_autoscaler_per_deployment(renders: dict[str, list[Object]]) -> None:
    for render, objects in renders.items():
        targets = [
            o["spec"]["scaleTargetRef"]["name"]
            for o in objects
            if o["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")
        ]
        assert len(targets) == len(set(targets)), f"{render}: two autoscalers on one Deployment: {targets}"
        for name in targets:
            _one(objects, "Deployment", name)
    assert "smartedit-worker" in [
        o["spec"]["scaleTargetRef"]["name"]
        for o in renders["base+worker-hpa"]
        if o["kind"] == "HorizontalPodAutoscaler"
    ]


def test_monitors_select_the_api_service_and_the_worker_pods(renders: dict[str, list[Object]]) -> None:
    objects = renders["managed"]
    service_monitor = _one(objects, "ServiceMonitor", "smartedit-api")
    assert service_monitor["apiVersion"] == "monitoring.coreos.com/v1"
    # ServiceMonitor: spec.selector and spec.endpoints (each a named Service port); it selects Services.
    service = _one(objects, "Service", "smartedit-api")
    assert service_monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = service_monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    # PodMonitor: spec.selector and spec.podMetricsEndpoints (each a named container port); it selects pods.
    pod_monitor = _one(objects, "PodMonitor", "smartedit-worker")
    assert pod_monitor["apiVersion"] == "monitoring.coreos.com/v1"
    worker = _one(objects, "Deployment", "smartedit-worker")["spec"]["template"]
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= worker["metadata"]["labels"].items()
    (pod_endpoint,) = pod_monitor["spec"]["podMetricsEndpoints"]
    (port,) = [p for p in _container(objects, "smartedit-worker")["ports"] if p["name"] == pod_endpoint["port"]]
    assert str(port["containerPort"]) == _env(objects, _container(objects, "smartedit-worker"))["PROMETHEUS_PORT"]
    assert pod_endpoint["path"] == "/metrics"


def test_dashboard_config_map_is_the_grafana_dashboard(renders: dict[str, list[Object]]) -> None:
    dashboard = _one(renders["managed"], "ConfigMap", "smartedit-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["data"]["smartedit.json"] == (ROOT / "grafana" / "dashboards" / "smartedit.json").read_text()


# --- the app's contract: commands, probes, settings ----------------------------------------------


def test_containers_run_the_smartedit_commands(renders: dict[str, list[Object]]) -> None:
    objects = renders["base"]
    assert _container(objects, "smartedit-api")["command"] == ["smartedit", "api"]
    assert _container(objects, "smartedit-worker")["command"] == ["smartedit", "worker"]
    (migrate,) = _one(objects, "Job", "smartedit-migrate")["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["smartedit", "migrate"]
    with pytest.raises(SystemExit) as exited:  # the command exists (argparse prints its help and exits 0)
        smartedit(["migrate", "--help"])
    assert exited.value.code == 0


@pytest.mark.parametrize("render", RENDERS)
def test_api_probes_readyz_and_healthz_on_its_port(renders: dict[str, list[Object]], render: str) -> None:
    objects = renders[render]
    api = _container(objects, "smartedit-api")
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    port = api["readinessProbe"]["httpGet"]["port"]
    assert ports[port] == int(_env(objects, api)["PORT"] or "0")
    assert _env(objects, api)["HOST"] == "0.0.0.0"  # the kubelet and the Service reach the pod's address
    service = _one(objects, "Service", "smartedit-api")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port]
    pod_labels = _one(objects, "Deployment", "smartedit-api")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("render", RENDERS)
def test_worker_has_no_service_and_probes_its_metrics_port(renders: dict[str, list[Object]], render: str) -> None:
    objects = renders[render]
    worker_labels = _one(objects, "Deployment", "smartedit-worker")["spec"]["template"]["metadata"]["labels"]
    for service in (o for o in objects if o["kind"] == "Service"):
        assert not service["spec"]["selector"].items() <= worker_labels.items(), service["metadata"]["name"]
    worker = _container(objects, "smartedit-worker")
    (port,) = worker["ports"]
    assert port["containerPort"] == int(_env(objects, worker)["PROMETHEUS_PORT"] or "0")
    assert _env(objects, worker)["HOST"] == "0.0.0.0"  # the metrics server listens on HOST
    for probe in ("readinessProbe", "livenessProbe"):
        assert worker[probe]["tcpSocket"]["port"] == port["name"]


@pytest.mark.parametrize("deployment", ["smartedit-api", "smartedit-worker"])
def test_grace_period_outlasts_the_drain(renders: dict[str, list[Object]], deployment: str) -> None:
    for objects in renders.values():
        pod = _one(objects, "Deployment", deployment)["spec"]["template"]["spec"]
        grace = _settings(_env(objects, _container(objects, deployment))).shutdown_grace_seconds
        # The runner waits SHUTDOWN_GRACE_SECONDS for its jobs to hand back (uvicorn as long for requests), then
        # closes its connections: the kubelet's SIGKILL must come after both.
        assert pod["terminationGracePeriodSeconds"] >= grace + CLOSING_SECONDS
        assert grace >= 30  # room for a hand-back on a slow database (measured: under 1.5 s)


def test_every_env_var_is_a_setting_and_every_required_one_is_set(renders: dict[str, list[Object]]) -> None:
    required = {
        "smartedit-api": {
            "POSTGRES_HOST",
            "POSTGRES_PASSWORD",
            "REDIS_HOST",
            "REDIS_PASSWORD",
            "STORAGE_URL",
            "API_KEYS",
            "PUBLIC_BASE_URL",
            "HOST",
            "PORT",
            "WEBHOOK_SECRET",
            "TEMP_DIR",
        },
        "smartedit-worker": {
            "POSTGRES_HOST",
            "POSTGRES_PASSWORD",
            "REDIS_HOST",
            "REDIS_PASSWORD",
            "STORAGE_URL",
            "WEBHOOK_SECRET",
            "PROMETHEUS_PORT",
            "TEMP_DIR",
            "WORKER_CONCURRENCY",
        },
    }
    names = {name.upper() for name in Settings.model_fields}
    for render, objects in renders.items():
        for deployment, wanted in required.items():
            env = _env(objects, _container(objects, deployment))
            unknown = set(env) - names - AWS_CLIENT_VARS
            assert not unknown, f"{render} {deployment}: not in app.config.Settings: {sorted(unknown)}"
            missing = wanted - set(env)
            assert not missing, f"{render} {deployment} lacks {sorted(missing)}"
            assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
            if _secret(objects) is None:
                continue  # base alone: the Secret is the overlay's (or yours)
            assert all(env[name] for name in wanted), (
                f"{render} {deployment}: empty {wanted - {k for k in wanted if env[k]}}"
            )
            settings = _settings(env)
            assert settings.storage_url and settings.storage_url.startswith("s3://")
            if deployment == "smartedit-api":  # the API alone refuses an open address without keys
                assert settings.open_api_refusal() is None, f"{render}: the API would refuse to start"
        # Every container of our image, the migrations Job's too, names settings only.
        for obj, pod in _pod_specs(objects):
            for container in pod["containers"]:
                if container["image"].startswith("smartedit:"):
                    unknown = set(_env(objects, container)) - names - AWS_CLIENT_VARS
                    assert not unknown, f"{render} {obj['metadata']['name']}: not settings: {sorted(unknown)}"
    migrate = _one(renders["base"], "Job", "smartedit-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert {"POSTGRES_HOST", "POSTGRES_PASSWORD"} <= set(_env(renders["base"], migrate))


def test_every_secret_key_the_pods_need_is_one_make_env_writes(renders: dict[str, list[Object]]) -> None:
    keys = set(_secret(renders["local"]) or {})
    for render, objects in renders.items():
        for obj, pod in _pod_specs(objects):
            for container in pod["containers"]:
                for item in container.get("env", []):
                    ref = item.get("valueFrom", {}).get("secretKeyRef")
                    if ref and not ref.get("optional"):
                        assert ref["name"] == "smartedit-secrets", f"{render} {obj['metadata']['name']}"
                        assert ref["key"] in keys, f"{render} {obj['metadata']['name']} needs {ref['key']}"


# --- hardening and sizing ------------------------------------------------------------------------


@pytest.mark.parametrize("render", RENDERS)
def test_every_pod_is_non_root_read_only_and_bounded(renders: dict[str, list[Object]], render: str) -> None:
    for obj, pod in _pod_specs(renders[render]):
        name = obj["metadata"]["name"]
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        assert not pod.get("hostNetwork") and not pod.get("hostPID"), name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory", "ephemeral-storage"} <= set(container["resources"][bound]), (name, bound)
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            assert _cpu(requests["cpu"]) <= _cpu(limits["cpu"]), name
            assert _quantity_bytes(requests["memory"]) <= _quantity_bytes(limits["memory"]), name


@pytest.mark.parametrize("render", RENDERS)
def test_worker_memory_covers_the_measured_peak_of_a_job(renders: dict[str, list[Object]], render: str) -> None:
    objects = renders[render]
    worker = _container(objects, "smartedit-worker")
    concurrency = int(_env(objects, worker)["WORKER_CONCURRENCY"] or "0")
    peak = concurrency * (FFMPEG_PEAK_RSS_MB + WORKER_PYTHON_RSS_MB) * 10**6
    limit = _quantity_bytes(worker["resources"]["limits"]["memory"])
    assert limit >= 1.25 * peak, f"{render}: {limit} bytes against a measured peak of {peak}"
    assert _quantity_bytes(worker["resources"]["requests"]["memory"]) == limit  # never the first evicted
    assert _cpu(worker["resources"]["limits"]["cpu"]) >= 2  # the figures were measured on 2 cores


@pytest.mark.parametrize("render", RENDERS)
@pytest.mark.parametrize("deployment", ["smartedit-api", "smartedit-worker"])
def test_temp_dir_is_an_empty_dir_sized_for_the_largest_source(
    renders: dict[str, list[Object]], render: str, deployment: str
) -> None:
    objects = renders[render]
    pod = _one(objects, "Deployment", deployment)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    settings = _settings(_env(objects, container))
    mounts = [m for m in container["volumeMounts"] if settings.temp_dir.is_relative_to(m["mountPath"])]
    assert len(mounts) == 1, f"{render} {deployment}: TEMP_DIR {settings.temp_dir} is on the read-only root"
    (volume,) = [v for v in pod["volumes"] if v["name"] == mounts[0]["name"]]
    size = _quantity_bytes(volume["emptyDir"]["sizeLimit"])
    assert size >= settings.max_input_bytes + REEL_ALLOWANCE_BYTES, f"{render} {deployment}"
    assert _quantity_bytes(container["resources"]["limits"]["ephemeral-storage"]) >= size


def test_disruption_budgets_cover_api_and_workers(renders: dict[str, list[Object]]) -> None:
    for objects in renders.values():
        for name in ("smartedit-api", "smartedit-worker"):
            budget = _one(objects, "PodDisruptionBudget", name)["spec"]
            labels = _one(objects, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
            assert budget["selector"]["matchLabels"].items() <= labels.items()
        hpa = _one(objects, "HorizontalPodAutoscaler", "smartedit-api")["spec"]
        assert _one(objects, "PodDisruptionBudget", "smartedit-api")["spec"]["minAvailable"] <= hpa["minReplicas"]


def test_network_policies_deny_by_default_and_let_the_app_reach_only_its_services(
    renders: dict[str, list[Object]],
) -> None:
    objects = renders["base"]
    deny = _one(objects, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    egress = _one(objects, "NetworkPolicy", "smartedit-egress")["spec"]
    assert egress["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "smartedit"}
    ports = {(p["protocol"], p["port"]) for rule in egress["egress"] for p in rule["ports"]}
    # DNS; PostgreSQL and Redis; HTTPS (S3, the AI provider, webhooks) and HTTP (webhooks may be http://).
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 6379), ("TCP", 443), ("TCP", 80)}
    (web,) = [rule for rule in egress["egress"] if {p["port"] for p in rule["ports"]} == {443, 80}]
    (block,) = web["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    # Not the cluster's private addresses, nor the cloud metadata endpoint: as the SSRF guard refuses them.
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(block["ipBlock"]["except"])
    api = _one(objects, "NetworkPolicy", "smartedit-api-ingress")["spec"]
    assert [p["port"] for rule in api["ingress"] for p in rule["ports"]] == [8000]
    # Each pod of the local overlay is covered by an ingress policy of its own or by default-deny alone.
    local = renders["local"]
    for store, port in (("postgres", 5432), ("redis", 6379), ("minio", 9000)):
        policy = _one(local, "NetworkPolicy", f"{store}-ingress")["spec"]
        assert [p["port"] for rule in policy["ingress"] for p in rule["ports"]] == [port]


def test_local_redis_never_evicts_and_keeps_an_append_only_file(renders: dict[str, list[Object]]) -> None:
    (redis,) = _one(renders["local"], "StatefulSet", "redis")["spec"]["template"]["spec"]["containers"]
    command = redis["command"][-1].split()
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert '"$REDIS_PASSWORD"' in command


# --- checkov -------------------------------------------------------------------------------------


def test_checkov_passes_but_for_the_named_and_justified_checks(
    renders: dict[str, list[Object]], tmp_path: Path
) -> None:
    assert CHECKOV.exists(), "checkov is not installed: run `make checkov` (make test does)"
    for name, objects in renders.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8")
    # --skip-download and BC_SKIP_MAPPING: offline, no platform guidelines fetched; the built-in checks only.
    run = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(run.stdout)
    assert report["summary"]["parsing_errors"] == 0, run.stderr[-2000:]
    assert report["summary"]["passed"] > 0
    failed: dict[str, dict[str, set[str]]] = {name: {} for name in RENDERS}
    for check in report["results"]["failed_checks"]:
        render = Path(check["file_path"]).stem
        failed[render].setdefault(check["check_id"], set()).add(check["resource"].split(".")[-1])
    accepted = {
        render: {check: set(names) for check, names in checks.items()} for render, checks in CHECKOV_ACCEPTED.items()
    }
    assert failed == accepted


def test_pinning_the_image_by_digest_reaches_every_app_container(tmp_path: Path) -> None:
    # What README.md tells production to do: an overlay of the managed one with an `images:` entry.
    digest = "sha256:" + "0" * 64
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [str(K8S / "overlays" / "managed")],
                "images": [{"name": "smartedit", "newName": "example.org/team/smartedit", "digest": digest}],
            }
        )
    )
    objects = build(tmp_path, env_files={".env": _make_env_text()})
    images = {c["image"] for _, pod in _pod_specs(objects) for c in pod["containers"]}
    assert images == {f"example.org/team/smartedit@{digest}"}


@pytest.mark.parametrize("overlay", ["local", "managed"])
def test_an_overlays_secrets_stay_out_of_git_and_the_image(overlay: str) -> None:
    secrets = f"deploy/kubernetes/overlays/{overlay}/.env"
    ignored = subprocess.run(["git", "check-ignore", "--quiet", secrets], cwd=ROOT, check=False)
    assert ignored.returncode == 0, f"git would commit {secrets}"
    assert "deploy" in (ROOT / ".dockerignore").read_text().split()  # the build context leaves deploy/ out
