"""input_url over HTTP: a local server started here serves a video, errors, a web page, a huge body and redirects."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Infra, make_settings, running_service
from tests.support.jobs import QUICK_ENCODE, wait_final
from tests.support.media import make_source

HIGHLIGHTS = [{"start_time": 2, "end_time": 17}]


class _Handler(BaseHTTPRequestHandler):
    video = b""
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        status, headers, body = self.routes.get(self.path, (404, {}, b"not here"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "no-length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A plain HTTP server on 127.0.0.1; returns its base URL and the good video's size."""
    video = make_source(tmp_path / "talk.mp4", seconds=20).read_bytes()
    mp4 = {"Content-Type": "video/mp4"}
    _Handler.routes = {
        "/talk.mp4": (200, mp4, video),
        "/secret.mp4": (403, {}, b"no"),
        "/page.mp4": (200, {"Content-Type": "text/html"}, b"<!doctype html><p>sign in</p>"),
        "/disguised.mp4": (200, {"Content-Type": "application/octet-stream"}, b"<!DOCTYPE html><html></html>"),
        "/huge.mp4": (200, mp4, video * 3),
        "/huge-stream.mp4": (200, {**mp4, "no-length": "1"}, video * 3),
        "/to-private.mp4": (302, {"Location": "http://10.255.255.1:8080/talk.mp4"}, b""),
        "/to-other-loopback.mp4": (302, {"Location": "http://127.0.0.2:9/talk.mp4"}, b""),
        "/moved.mp4": (301, {"Location": "/talk.mp4"}, b""),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", len(video)
    server.shutdown()
    server.server_close()


async def test_input_url_fetches_a_video_and_names_each_failure(
    infra: Infra, tmp_path: Path, media_server: tuple[str, int]
) -> None:
    base, size = media_server
    settings = make_settings(
        infra, tmp_path / "svc", input_allow_private=True, input_allow_http=True, max_input_bytes=size + 4096
    )
    expected = {
        "/talk.mp4": "completed",
        "/moved.mp4": "completed",  # a redirect on the same host is followed
        "/missing.mp4": "input_not_found",
        "/secret.mp4": "input_forbidden",
        "/page.mp4": "input_not_video",
        "/disguised.mp4": "input_not_video",
        "/huge.mp4": "input_too_large",
        "/huge-stream.mp4": "input_too_large",  # no Content-Length: the cap holds while streaming
        "/to-private.mp4": "input_url_refused",
        "/to-other-loopback.mp4": "input_url_refused",
    }
    async with running_service(settings) as client:
        ids = {}
        for path in expected:
            response = await client.post(
                "/jobs", json={"input_url": base + path, "highlights": HIGHLIGHTS, "output": QUICK_ENCODE}
            )
            assert response.status_code == 202, response.text
            ids[path] = response.json()["id"]
        outcomes = {}
        for path, job_id in ids.items():
            done = await wait_final(client, job_id)
            outcomes[path] = done["status"] if done["status"] == "completed" else done["error"]["code"]
            if done["error"]:
                assert str(settings.temp_dir) not in done["error"]["message"]
    assert outcomes == expected
    assert not [p for p in settings.temp_dir.rglob("*") if p.is_file()], "no partial download is left"


async def test_loopback_input_url_is_refused_at_submit_unless_private_is_allowed(
    infra: Infra, tmp_path: Path, media_server: tuple[str, int]
) -> None:
    base, _ = media_server
    settings = make_settings(infra, tmp_path, input_allow_http=True)
    async with running_service(settings, run_worker=False) as client:
        refused = await client.post("/jobs", json={"input_url": f"{base}/talk.mp4"})
        assert refused.status_code == 422 and refused.json()["code"] == "input_url_refused"
        for url in ("ftp://example.com/a.mp4", "https://user:pw@example.com/a.mp4", "file:///etc/passwd"):
            bad = await client.post("/jobs", json={"input_url": url})
            assert bad.status_code == 422 and bad.json()["code"] == "invalid_input_url", url
    plain = make_settings(infra, tmp_path / "https-only", input_allow_private=True)
    async with running_service(plain, run_worker=False) as client:
        http = await client.post("/jobs", json={"input_url": f"{base}/talk.mp4"})
        assert http.status_code == 422 and http.json()["code"] == "invalid_input_url"
