"""The deployment files parse and agree with the code: settings, metric names, commands.

Covers Dockerfile, docker-compose.yml, prometheus.yml, alerts.yml and grafana/. Nothing here
needs Docker, Prometheus or Grafana: the files are read as data.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import yaml

from app.config import Settings
from app.ops.metrics import PAID_APIS

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "video_processing_"
APP_SERVICES = ("api", "worker")
AWS_CLIENT_VARS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}  # read by botocore itself

# The metrics app/ops/metrics.py defines (ARCHITECTURE.md "Metrics"), with their Prometheus types.
CONTRACT_METRICS: dict[str, str] = {
    "video_processing_ratio": "gauge",
    "video_processing_audio_loudness_spread_lu": "gauge",
    "video_processing_output_loudness_lufs": "gauge",
    "video_processing_errors_total": "counter",
    "video_processing_cost_usd_total": "counter",
    "video_processing_jobs_finished_total": "counter",
    "video_processing_jobs_submitted_total": "counter",
    "video_processing_queue_depth": "gauge",
    "video_processing_jobs_running": "gauge",
    "video_processing_stage_duration_seconds": "histogram",
    "video_processing_segments_detected": "histogram",
    "video_processing_highlight_score": "histogram",
    "video_processing_webhook_deliveries_total": "counter",
}

# prometheus-fastapi-instrumentator's default metrics (Instrumentator().instrument(app)).
INSTRUMENTATOR_METRICS: dict[str, str] = {
    "http_requests_total": "counter",
    "http_request_size_bytes": "summary",
    "http_response_size_bytes": "summary",
    "http_request_duration_seconds": "histogram",
    "http_request_duration_highr_seconds": "histogram",
}


# --- metric names --------------------------------------------------------------------------------


def _metric_names_from_app() -> dict[str, str]:
    """The service's metric names and types, from app.ops.metrics' registry once that module exists.

    Uses `app.ops.metrics.REGISTRY` (or prometheus_client's default registry if the module keeps its
    metrics there) and keeps the `video_processing_` families. Without app/ops/metrics.py the contract
    list above stands in. prometheus_client names a counter family without `_total`;
    `_series_names` accepts either spelling.
    """
    if importlib.util.find_spec("app.ops.metrics") is None:
        return dict(CONTRACT_METRICS)
    module = importlib.import_module("app.ops.metrics")
    registry = getattr(module, "REGISTRY", prometheus_client.REGISTRY)
    return {family.name: family.type for family in registry.collect() if family.name.startswith(PREFIX)}


def _series_names(name: str, kind: str) -> set[str]:
    """The series names PromQL can select for one metric family of the given type."""
    if kind == "counter":
        base = name.removesuffix("_total")
        return {f"{base}_total", f"{base}_created"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "info":
        return {f"{name}_info"}
    return {name}  # gauge, enum/stateset, untyped


def _known_series(metrics: dict[str, str]) -> set[str]:
    return set().union(*(_series_names(name, kind) for name, kind in metrics.items()))


def _names_in(expr: str, prefix: str) -> set[str]:
    """Metric names with this prefix in a PromQL expression (label matchers are not names)."""
    return set(re.findall(rf"\b{prefix}[a-z0-9_]*[a-z0-9]", re.sub(r"\{[^}]*\}", "", expr)))


# --- file loading --------------------------------------------------------------------------------


def _load_yaml(relative: str) -> Any:
    path = ROOT / relative
    assert path.is_file(), f"{relative} is missing"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _load_yaml("docker-compose.yml")
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def prometheus_config() -> dict[str, Any]:
    data: dict[str, Any] = _load_yaml("prometheus.yml")
    return data


@pytest.fixture(scope="module")
def alert_rules() -> list[dict[str, Any]]:
    data = _load_yaml("alerts.yml")
    return [rule for group in data["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "grafana/dashboards/smartedit.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's final stage, continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            instructions = []
        instructions.append((keyword.upper(), args.strip()))
    assert instructions, "Dockerfile has no stage"
    return instructions


def _env(service: dict[str, Any]) -> dict[str, str | None]:
    """A compose service's environment as a mapping (either compose syntax)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {key: (value if sep else None) for key, sep, value in pairs}
    return {key: None if value is None else str(value) for key, value in env.items()}


def _interpolate(value: str) -> str:
    """Compose `${VAR:-default}` / `${VAR}` with an empty environment, `${VAR:?error}` as set, and `$$` escapes."""
    value = re.sub(r"\$\{(\w+):?\?[^}]*\}", "required-value", value)
    value = re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", value)
    return value.replace("$$", "$")


def _required_vars(text: str) -> set[str]:
    """Variables compose refuses to start without (`${VAR:?message}`)."""
    return set(re.findall(r"\$\{(\w+):\?", text))


def _command(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def _seconds(duration: str | float) -> float:
    """A compose duration ("1m30s", "60s") in seconds."""
    if not isinstance(duration, str):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dashboard["panels"]) for t in p.get("targets", [])]


def _setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


# --- Dockerfile ----------------------------------------------------------------------------------


def test_dockerfile_runs_smartedit_serve(dockerfile: list[tuple[str, str]]) -> None:
    cmds = [args for keyword, args in dockerfile if keyword == "CMD"]
    assert cmds, "final stage has no CMD"
    assert json.loads(cmds[-1]) == ["smartedit", "serve"]


def test_dockerfile_env_vars_are_settings(dockerfile: list[tuple[str, str]]) -> None:
    env: dict[str, str] = {}
    for keyword, args in dockerfile:
        if keyword == "ENV":
            tokens = shlex.split(args)
            if "=" in tokens[0]:
                env.update(token.partition("=")[::2] for token in tokens)
            else:  # legacy `ENV KEY value`
                env[tokens[0]] = " ".join(tokens[1:])
    runtime_only = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV"}
    unknown = set(env) - runtime_only - _setting_names()
    assert not unknown, f"Dockerfile ENV not in app.config.Settings: {sorted(unknown)}"
    assert {k: env.get(k) for k in ("MEDIA_ROOT", "OUTPUT_ROOT", "TEMP_DIR", "HOST", "PORT")} == {
        "MEDIA_ROOT": "/media",
        "OUTPUT_ROOT": "/output",
        "TEMP_DIR": "/tmp/smartedit",
        "HOST": "0.0.0.0",
        "PORT": "8000",
    }
    Settings.model_validate({k.lower(): v for k, v in env.items() if k not in runtime_only})


def test_dockerfile_non_root_exposed_and_healthchecked(dockerfile: list[tuple[str, str]]) -> None:
    users = [args for keyword, args in dockerfile if keyword == "USER"]
    assert users, "final stage runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    exposed = {port for keyword, args in dockerfile if keyword == "EXPOSE" for port in args.split()}
    assert "8000" in exposed
    checks = [args for keyword, args in dockerfile if keyword == "HEALTHCHECK"]
    assert checks, "no HEALTHCHECK"
    assert "/healthz" in checks[-1]
    assert "curl" not in checks[-1]


# --- docker-compose.yml --------------------------------------------------------------------------


def test_compose_services(compose: dict[str, Any]) -> None:
    assert "version" not in compose
    assert {"postgres", "redis", "api", "worker", "prometheus", "grafana"} <= set(compose["services"])


def test_compose_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert _command(services["api"]["command"]) == ["smartedit", "api"]
    assert _command(services["worker"]["command"]) == ["smartedit", "worker"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_app_env_vars_are_settings(compose: dict[str, Any], name: str) -> None:
    env = _env(compose["services"][name])
    unknown = set(env) - _setting_names() - AWS_CLIENT_VARS
    assert not unknown, f"{name} env not in app.config.Settings: {sorted(unknown)}"
    for required in ("POSTGRES_HOST", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"):
        assert required in env, f"{name} lacks {required}"
    assert env["REDIS_HOST"] == "redis"
    assert env["POSTGRES_HOST"] == "postgres"
    # Media lives in MinIO: the S3 store, its endpoint, and credentials the S3 client reads the usual way.
    assert env["STORAGE_URL"] == "s3://smartedit/media"
    assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
    # The values, with compose defaults filled in, are valid settings.
    values = {k.lower(): _interpolate(v) for k, v in env.items() if v is not None and k not in AWS_CLIENT_VARS}
    Settings.model_validate(values)


def test_compose_worker_settings(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    env = _env(worker)
    assert _interpolate(env["WORKER_CONCURRENCY"] or "") == "1"
    assert env["PROMETHEUS_PORT"] == "9099"
    assert env["TEMP_DIR"]
    # The worker must release its lease before Docker's SIGKILL ends it.
    grace = float(env["SHUTDOWN_GRACE_SECONDS"] or "nan")
    assert grace < _seconds(worker["stop_grace_period"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_app_waits_for_healthy_stores(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "minio-init": {"condition": "service_completed_successfully"},
    }
    for store in ("postgres", "redis", "minio"):
        assert compose["services"][store].get("healthcheck", {}).get("test"), f"{store} healthcheck"


def test_compose_api_and_workers_share_no_media_volume(compose: dict[str, Any]) -> None:
    # Workers on other machines (docker compose up --scale worker=N) must need nothing on a shared disk.
    for name in APP_SERVICES:
        assert not compose["services"][name].get("volumes"), f"{name} mounts a volume"


def test_compose_minio_bucket_is_created_before_the_app_starts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    minio, init = services["minio"], services["minio-init"]
    assert init["depends_on"] == {"minio": {"condition": "service_healthy"}}
    script = _command(init["entrypoint"])[-1]
    storage_url = _env(services["api"])["STORAGE_URL"]
    assert storage_url is not None
    bucket = storage_url.removeprefix("s3://").split("/")[0]
    assert f"mc mb --ignore-existing local/{bucket}" in script
    # One set of credentials: MinIO's root user is what the app's S3 client signs with.
    app = _env(services["worker"])
    assert _env(minio)["MINIO_ROOT_USER"] == app["AWS_ACCESS_KEY_ID"] == _env(init)["S3_ACCESS_KEY"]
    assert _env(minio)["MINIO_ROOT_PASSWORD"] == app["AWS_SECRET_ACCESS_KEY"] == _env(init)["S3_SECRET_KEY"]
    # Clients follow presigned URLs to the published MinIO port; the app signs them for that address.
    assert [_interpolate(p) for p in minio["ports"]] == ["127.0.0.1:9000:9000"]
    assert _interpolate(app["S3_PUBLIC_ENDPOINT_URL"] or "") == "http://127.0.0.1:9000"


def test_compose_postgres_credentials_match(compose: dict[str, Any]) -> None:
    db = _env(compose["services"]["postgres"])
    for name in APP_SERVICES:
        app = _env(compose["services"][name])
        for key in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"):
            assert app[key] == db[key], f"{name} {key} differs from the postgres service"


def test_compose_redis_never_evicts(compose: dict[str, Any]) -> None:
    command = _command(compose["services"]["redis"]["command"])
    if command[:2] == ["sh", "-c"]:
        command = shlex.split(command[2])
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--appendonly") + 1] == "yes"


def test_compose_bind_mount_sources_exist(compose: dict[str, Any]) -> None:
    user_dirs = {"./media", "./output"}  # created by the user before `docker compose up`
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith(".") and source not in user_dirs:
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


# --- Prometheus ----------------------------------------------------------------------------------


def _scrape_targets(job: dict[str, Any]) -> set[str]:
    targets = {t for config in job.get("static_configs", []) for t in config["targets"]}
    for config in job.get("dns_sd_configs", []):
        targets |= {f"{name}:{config['port']}" for name in config["names"]}
    return targets


def test_prometheus_scrapes_api_and_worker(prometheus_config: dict[str, Any], compose: dict[str, Any]) -> None:
    assert prometheus_config["global"]["scrape_interval"] == "15s"
    jobs = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}
    worker_port = _env(compose["services"]["worker"])["PROMETHEUS_PORT"]
    assert _scrape_targets(jobs["smartedit-api"]) == {"api:8000"}
    assert _scrape_targets(jobs["smartedit-worker"]) == {f"worker:{worker_port}"}
    for job in jobs.values():
        assert job.get("metrics_path", "/metrics") == "/metrics"
    assert [_interpolate(p) for p in compose["services"]["api"]["ports"]] == ["127.0.0.1:8000:8000"]


def test_prometheus_loads_the_mounted_alerts(prometheus_config: dict[str, Any], compose: dict[str, Any]) -> None:
    assert prometheus_config["rule_files"] == ["alerts.yml"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "./alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


def test_alert_rules_are_complete(alert_rules: list[dict[str, Any]]) -> None:
    for rule in alert_rules:
        assert rule["alert"], rule
        assert rule["expr"], rule
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    exprs = " ".join(" ".join(rule["expr"].split()) for rule in alert_rules)
    for wanted in (
        'video_processing_ratio{stage="render"} > 1.2',
        "video_processing_audio_loudness_spread_lu > 1.5",
        (
            "sum(rate(video_processing_errors_total[5m])) / "
            "clamp_min(sum(rate(video_processing_jobs_finished_total[5m])), 1e-9) > 0.02"
        ),
        "sum(increase(video_processing_cost_usd_total[1h])) > 20",
        "video_processing_queue_depth > 50",
        'video_processing_webhook_deliveries_total{outcome="failed"}',
    ):
        assert wanted in exprs, f"no alert on {wanted}"
    by_metric = {rule["expr"].split(" ")[0]: rule for rule in alert_rules}
    assert by_metric['video_processing_ratio{stage="render"}']["for"] == "10m"
    assert by_metric["video_processing_queue_depth"]["for"] == "15m"


# --- Grafana -------------------------------------------------------------------------------------


def test_grafana_datasource() -> None:
    (source,) = _load_yaml("grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["uid"] == "prometheus"
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"


def test_grafana_dashboard_provider_matches_mount(compose: dict[str, Any]) -> None:
    (provider,) = _load_yaml("grafana/provisioning/dashboards/smartedit.yml")["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    assert path == "/var/lib/grafana/dashboards"
    assert f"./grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]


def test_dashboard_structure(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "smartedit"
    assert dashboard["title"] == "SmartVideoEditor"
    assert dashboard["schemaVersion"] == 39
    panels = list(_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] < pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus", panel["title"]
            assert target["expr"], panel["title"]


def test_dashboard_covers_the_metrics(dashboard: dict[str, Any]) -> None:
    used = set().union(*(_names_in(expr, PREFIX) for expr in _dashboard_exprs(dashboard)))
    missing = {name for name, kind in CONTRACT_METRICS.items() if not _series_names(name, kind) & used}
    assert not missing, f"no panel shows {sorted(missing)}"
    exprs = " ".join(_dashboard_exprs(dashboard))
    assert "http_requests_total" in exprs
    assert "http_request_duration_seconds_bucket" in exprs


@pytest.mark.parametrize(
    ("metric", "threshold"),
    [
        ("video_processing_output_loudness_lufs", -16),
        ("video_processing_audio_loudness_spread_lu", 1.5),
        ("video_processing_cost_usd_total", 20),  # the brief's alert: more than $20 of paid APIs in an hour
    ],
)
def test_dashboard_thresholds(dashboard: dict[str, Any], metric: str, threshold: float) -> None:
    (panel,) = [p for p in _panels(dashboard["panels"]) if any(metric in t["expr"] for t in p.get("targets", []))]
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert threshold in [step["value"] for step in steps]
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"


def test_cost_panel_shows_spend_per_hour_by_api_name(dashboard: dict[str, Any]) -> None:
    exprs = [" ".join(e.split()) for e in _dashboard_exprs(dashboard) if "video_processing_cost_usd_total" in e]
    assert "sum by (api_name) (increase(video_processing_cost_usd_total[1h]))" in exprs
    assert "openai" in PAID_APIS  # the series the panel and the alert read exists from the first scrape


# --- metric names used by the dashboard and alerts -----------------------------------------------


def _all_exprs(dashboard: dict[str, Any], alert_rules: list[dict[str, Any]]) -> list[str]:
    return _dashboard_exprs(dashboard) + [rule["expr"] for rule in alert_rules]


def test_used_metric_names_exist(dashboard: dict[str, Any], alert_rules: list[dict[str, Any]]) -> None:
    known = _known_series(_metric_names_from_app())
    unknown = {
        name: expr
        for expr in _all_exprs(dashboard, alert_rules)
        for name in _names_in(expr, PREFIX)
        if name not in known
    }
    assert not unknown, f"metrics the service does not define: {unknown}"


def test_used_http_metric_names_exist(dashboard: dict[str, Any]) -> None:
    known = _known_series(INSTRUMENTATOR_METRICS)
    used = set().union(*(_names_in(expr, "http_") for expr in _dashboard_exprs(dashboard)))
    assert used, "no HTTP panels"
    assert used <= known, f"not instrumentator metrics: {sorted(used - known)}"


def test_app_metrics_define_the_contract() -> None:
    if importlib.util.find_spec("app.ops.metrics") is None:
        pytest.skip("app/ops/metrics.py not written yet")
    defined = _known_series(_metric_names_from_app())
    missing = {name for name, kind in CONTRACT_METRICS.items() if not _series_names(name, kind) <= defined}
    assert not missing, f"app.ops.metrics lacks (or types differently) {sorted(missing)}"


def test_queries_are_balanced(dashboard: dict[str, Any], alert_rules: list[dict[str, Any]]) -> None:
    pairs = {")": "(", "]": "[", "}": "{"}
    for expr in _all_exprs(dashboard, alert_rules):
        stack: list[str] = []
        for char in re.sub(r'"[^"]*"', '""', expr):
            if char in "([{":
                stack.append(char)
            elif char in pairs:
                assert stack, f"unbalanced: {expr}"
                assert stack.pop() == pairs[char], f"unbalanced: {expr}"
        assert not stack, f"unbalanced: {expr}"


# --- safe by default -----------------------------------------------------------------------------


def test_compose_publishes_every_port_on_loopback_unless_configured(compose: dict[str, Any]) -> None:
    published = [(name, port) for name, svc in compose["services"].items() for port in svc.get("ports", [])]
    assert published, "nothing published"
    for name, port in published:
        assert isinstance(port, str) and port.startswith("${BIND_ADDRESS:-127.0.0.1}:"), (name, port)
        assert _interpolate(port).startswith("127.0.0.1:"), (name, port)


def test_compose_requires_api_keys_and_every_password(compose: dict[str, Any]) -> None:
    required = _required_vars((ROOT / "docker-compose.yml").read_text())
    assert {"API_KEYS", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "WEBHOOK_SECRET", "GRAFANA_ADMIN_PASSWORD"} <= required
    api = _env(compose["services"]["api"])
    assert api["API_KEYS"] and api["API_KEYS"].startswith("${API_KEYS:?")
    assert "ALLOW_OPEN_API" not in api
    redis = compose["services"]["redis"]
    assert "--requirepass" in " ".join(_command(redis["command"]))
    for name in APP_SERVICES:
        assert _env(compose["services"][name])["REDIS_PASSWORD"] == _env(redis)["REDIS_PASSWORD"]


def test_grafana_has_no_default_password_and_no_anonymous_admin(compose: dict[str, Any]) -> None:
    env = _env(compose["services"]["grafana"])
    password = env.get("GF_SECURITY_ADMIN_PASSWORD") or ""
    assert password.startswith("${GRAFANA_ADMIN_PASSWORD:?"), password
    anonymous = (env.get("GF_AUTH_ANONYMOUS_ENABLED") or "false").lower() == "true"
    assert not anonymous or (env.get("GF_AUTH_ANONYMOUS_ORG_ROLE") or "Viewer") == "Viewer"
    assert not anonymous


def test_make_env_writes_every_required_secret_once(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_env", ROOT / "scripts" / "make_env.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    target = tmp_path / ".env"
    assert module.main(["make_env", str(target)]) == 0
    assert target.stat().st_mode & 0o777 == 0o600
    values = dict(line.split("=", 1) for line in target.read_text().splitlines() if line and not line.startswith("#"))
    required = _required_vars((ROOT / "docker-compose.yml").read_text())
    assert all(values.get(name) for name in required), sorted(required - {k for k, v in values.items() if v})
    assert values["WEBHOOK_SECRET"].startswith("whsec_")
    Settings.model_validate({"api_keys": values["API_KEYS"], "webhook_secret": values["WEBHOOK_SECRET"]})
    before = target.read_text()
    assert module.main(["make_env", str(target)]) == 0
    assert target.read_text() == before, "an existing .env was overwritten"
    assert module.env_text() != module.env_text(), "secrets must be random"


def test_env_file_stays_out_of_git_and_the_image() -> None:
    for ignore in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore).read_text().split(), ignore
    assert "make env" in (ROOT / "README.md").read_text()
    assert re.search(r"^env:", (ROOT / "Makefile").read_text(), re.M)


def test_dockerfile_open_host_needs_api_keys_or_allow_open_api(dockerfile: list[tuple[str, str]]) -> None:
    env = " ".join(args for keyword, args in dockerfile if keyword == "ENV")
    assert "HOST=0.0.0.0" in env
    text = (ROOT / "Dockerfile").read_text()
    assert "API_KEYS" in text and "ALLOW_OPEN_API" in text
