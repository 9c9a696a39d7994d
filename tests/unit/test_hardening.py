"""Small guards: the local webhook secret's mode, the worker's /metrics, and an open API refused by the app itself."""

from __future__ import annotations

import socket
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.api.app import create_app
from app.cli.main import _local_webhook_secret
from app.config import Settings
from app.ops.metrics import serve_metrics


def test_the_local_webhook_secret_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    secret = _local_webhook_secret(tmp_path / "data")
    path = tmp_path / "data" / "webhook_secret"
    assert secret.startswith("whsec_") and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _local_webhook_secret(tmp_path / "data") == secret  # made once, then read


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_workers_metrics_need_the_token_when_one_is_set() -> None:
    port = _free_port()
    serve_metrics(port, host="127.0.0.1", token="s3cret")
    url = f"http://127.0.0.1:{port}/metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 401
    request = urllib.request.Request(url, headers={"Authorization": "Bearer s3cret"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200 and b"video_processing_jobs_running" in answer.read()


def test_the_app_refuses_to_serve_an_open_api_on_a_public_address() -> None:
    with pytest.raises(RuntimeError, match="API_KEYS"):
        create_app(Settings(host="0.0.0.0", api_keys=[], admin_api_keys=[], allow_open_api=False))
    create_app(Settings(host="127.0.0.1", api_keys=[], admin_api_keys=[]))  # loopback: open is fine
