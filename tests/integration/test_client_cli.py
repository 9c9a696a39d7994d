"""The `smartedit` client commands under a pseudo-terminal: a live bar that survives a broken stream, and exit 0;
one line and non-zero on trouble; never a `None`."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import httpx
import pexpect
import pytest

from app.api.app import create_app
from app.config import Settings
from app.ops.embedded import free_port
from tests.conftest import Infra, make_settings
from tests.support.media import make_source
from tests.support.s3 import S3Server
from tests.support.sse import served
from tests.support.stream_breaker import stream_breaker


def _run(*args: str, timeout: float = 180, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`smartedit ARGS` under a pty (so rich draws its live bar); its exit status and everything it printed."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMARTEDIT_")}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "app.cli", *args],
        env={**base, "TERM": "xterm", **(env or {})},
        dimensions=(24, 100),
        timeout=timeout,
    )
    child.expect(pexpect.EOF)
    child.close()
    output = (child.before or b"").decode(errors="replace")
    return child.exitstatus if child.exitstatus is not None else -1, output


@pytest.fixture
async def url(settings: Settings) -> AsyncIterator[str]:
    async with served(create_app(settings)) as address:
        yield address


async def test_submit_wait_shows_a_bar_and_exits_zero(url: str, settings: Settings) -> None:
    make_source(settings.media_root / "talk.mp4", seconds=30)
    status, output = await asyncio.to_thread(
        _run, "submit", "--server-path", "talk.mp4", "--highlights", str(_highlights(settings)), "--wait",
        "--preset", "ultrafast", "--url", url,
    )  # fmt: skip
    assert status == 0, output
    assert "━" in output and "100%" in output, output  # rich's bar, drawn live, reaching the end
    reel = _last_line(output)
    assert reel.endswith(".mp4") and Path(reel).is_file(), output


_JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _last_line(output: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", output).strip().splitlines()[-1].strip()


async def test_a_failed_job_and_a_server_down_are_one_line_each(url: str, settings: Settings) -> None:
    (settings.media_root / "bad.mp4").write_bytes(b"not a video")
    status, output = await asyncio.to_thread(_run, "submit", "--server-path", "bad.mp4", "--wait", "--url", url)
    assert status == 1 and "failed" in output and "(source_unreadable)" in output, output

    down = f"http://127.0.0.1:{free_port()}"
    status, output = await asyncio.to_thread(_run, "status", "0b6f9c1e-9d9a-4a57-9d54-1c1f0f7e8a21", "--url", down)
    assert status == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the API" in lines[0], output
    status, output = await asyncio.to_thread(_run, "watch", "0b6f9c1e-9d9a-4a57-9d54-1c1f0f7e8a21", "--url", down)
    assert status == 2 and "cannot reach the API" in output.strip().splitlines()[-1], output  # at once, not retried


async def test_a_bad_preset_is_one_line(tmp_path: Path) -> None:
    status, output = await asyncio.to_thread(_run, "process", "in.mp4", "-o", str(tmp_path / "o.mp4"), "--preset", "x")
    assert status == 2 and output.strip().splitlines() == [output.strip()] and "--preset" in output, output


def _highlights(settings: Settings) -> Path:
    path = settings.data_dir / "highlights.json"
    path.write_text('[{"start_time": 2, "end_time": 18}, {"start_time": 12, "end_time": 28}]')
    return path


async def test_a_missing_or_wrong_key_is_one_line(infra: Infra, tmp_path: Path) -> None:
    guarded = make_settings(infra, tmp_path, api_keys=["right"])
    async with served(create_app(guarded, run_worker=False)) as address:
        for extra in ((), ("--api-key", "wrong")):
            status, output = await asyncio.to_thread(_run, "list", "--url", address, *extra)
            assert status == 2 and output.strip().splitlines() == [output.strip()], output
            assert "API key is missing or wrong" in output, output
        status, output = await asyncio.to_thread(_run, "list", "--url", address, "--api-key", "right")
        assert status == 0, output


async def test_a_local_file_is_uploaded_and_the_reel_downloaded(url: str, settings: Settings, tmp_path: Path) -> None:
    mine = make_source(tmp_path / "mine.mp4", seconds=20)  # on the client's disk, not under MEDIA_ROOT
    reel = tmp_path / "reel.mp4"
    status, output = await asyncio.to_thread(
        _run, "submit", str(mine), "--highlights", str(_highlights(settings)), "--output", str(reel),
        "--preset", "ultrafast", "--url", url,
    )  # fmt: skip
    assert status == 0, output
    assert reel.is_file() and reel.stat().st_size > 10_000, output
    assert not any(settings.media_root.iterdir())  # nothing was placed in the server's media directory

    # Again from that job's source, with other highlights: nothing uploaded, and `list` says what it is based on.
    first = _JOB_ID.search(output)  # printed as soon as it is submitted
    assert first is not None, output
    other = tmp_path / "other.json"
    other.write_text('[{"start_time": 3, "end_time": 19}]')
    again = tmp_path / "again.mp4"
    status, output = await asyncio.to_thread(
        _run, "submit", "--based-on", first[0], "--highlights", str(other), "--output", str(again),
        "--preset", "ultrafast", "--url", url,
    )  # fmt: skip
    assert status == 0, output
    assert again.is_file() and again.read_bytes() != reel.read_bytes(), output
    async with httpx.AsyncClient(base_url=url) as client:
        sent = (await client.get(f"/jobs/{first[0]}")).json()["output"]
    assert sent["preset"] == "ultrafast" and sent["aspect_ratio"] == "source", sent  # --preset went; no --aspect
    status, listed = await asyncio.to_thread(_run, "list", "--url", url)
    assert status == 0 and f"based on {first[0]}" in listed, listed


def test_submit_says_what_it_sends_and_a_missing_file_is_one_line() -> None:
    status, output = _run("submit", "--help")
    flat = " ".join(output.split())
    assert status == 0 and "uploaded to the server" in flat and "--server-path PATH" in flat, output
    assert "relative to its MEDIA_ROOT" in flat and "nothing is uploaded" in flat, output
    down = f"http://127.0.0.1:{free_port()}"  # never reached: the file is looked for here first
    status, output = _run("submit", "talk.mp4", "--url", down)
    assert status == 2 and output.strip().splitlines() == [output.strip()], output
    assert "no such file on this machine" in output and "--server-path talk.mp4" in output, output


@pytest.mark.parametrize("mode", ["cut", "silent"])
async def test_a_cut_or_silent_stream_is_resumed_with_last_event_id(
    mode: Literal["cut", "silent"], infra: Infra, tmp_path: Path
) -> None:
    # The client allows 3 heartbeats of silence: half a second each here, on both sides.
    settings = make_settings(infra, tmp_path, sse_heartbeat_seconds=0.5)
    make_source(settings.media_root / "talk.mp4", seconds=20)
    async with served(create_app(settings)) as address, stream_breaker(address, mode) as proxy:
        status, output = await asyncio.to_thread(
            _run, "submit", "--server-path", "talk.mp4", "--highlights", str(_highlights(settings)), "--wait",
            "--url", proxy.url, env={"SSE_HEARTBEAT_SECONDS": "0.5"}, timeout=120,
        )  # fmt: skip
    assert status == 0, output
    assert proxy.broken_after is not None, "the stream was never broken"
    assert len(proxy.stream_heads) >= 2 and "last-event-id" not in proxy.stream_heads[0], proxy.stream_heads
    assert f"last-event-id: {proxy.broken_after}\r\n" in proxy.stream_heads[1], proxy.stream_heads
    assert Path(_last_line(output)).is_file(), output


async def test_s3_store_outputs_name_no_none_and_download_follows_the_redirect(
    infra: Infra, tmp_path: Path, s3_server: S3Server
) -> None:
    store, inputs = f"reels-{uuid.uuid4().hex[:10]}", f"in-{uuid.uuid4().hex[:10]}"
    for bucket in (store, inputs):
        s3_server.client.create_bucket(Bucket=bucket)
    settings = make_settings(
        infra, tmp_path / "svc", storage_url=f"s3://{store}/svc", s3_endpoint_url=s3_server.endpoint,
        input_s3_allow=[f"s3://{inputs}/"],
    )  # fmt: skip
    mine = make_source(tmp_path / "mine.mp4", seconds=20)
    async with served(create_app(settings)) as url:
        status, output = await asyncio.to_thread(
            _run, "submit", str(mine), "--highlights", str(_highlights(settings)), "--wait", "--url", url
        )
        assert status == 0 and "None" not in output, output
        reel_url = _last_line(output)  # no server path with object storage: where this client downloads it
        job_id = reel_url.removeprefix(f"{url}/jobs/").removesuffix("/output")
        assert reel_url == f"{url}/jobs/{job_id}/output", output

        status, output = await asyncio.to_thread(_run, "submit", f"s3://{inputs}/nope.mp4", "--url", url)
        assert status == 0, output
        status, output = await asyncio.to_thread(_run, "list", "--url", url)
        assert status == 0 and "None" not in output, output
        assert f"s3://{inputs}/nope.mp4" in output and "upload " in output, output

        saved = tmp_path / "saved.mp4"
        status, output = await asyncio.to_thread(_run, "download", job_id, "-o", str(saved), "--url", url)
        assert status == 0 and _last_line(output) == str(saved), output
    stored = s3_server.body(store, f"svc/reels/{job_id}.mp4")
    assert saved.read_bytes() == stored and not saved.with_name("saved.mp4.part").exists()
