"""Failures met by real jobs in the runner: each ends as `runner/failures.py` says, and neither the job's error nor
its webhook shows a server path, a heap address or an exception's name.

The encoder is made to fail by an ffmpeg that is the real one behind a small script: when asked to encode
(libx264) it crashes with a message full of internals, or is killed, as `mode` says.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.media.ffmpeg import find_binaries
from tests.conftest import Infra, make_settings, running_service
from tests.support.jobs import submit, wait_final
from tests.support.media import make_source
from tests.support.receiver import Receiver

pytestmark = pytest.mark.xdist_group("failure_paths")

INTERNAL = re.compile(r"/srv|/tmp|secret|0x[0-9a-fA-F]{4,}|\b[A-Z]\w*(?:Error|Exception)\b|Traceback|\[Errno")
CLIP = [{"start_time": 0.0, "end_time": 15.0, "score": 1.0}]
WRAPPER = """#!/bin/sh
# The real ffmpeg, except for encodes while {mode} says crash, killed or killed-once.
for arg in "$@"; do
  if [ "$arg" = "libx264" ]; then
    case "$(cat {mode})" in
      crash) echo "[h264 @ 0x55d1c0ffee00] /srv/my media/secret.mp4: Invalid NAL unit size" >&2; exit 1 ;;
      killed) kill -9 $$ ;;
      killed-once) echo ok > {mode}; kill -9 $$ ;;
    esac
  fi
done
exec {real} "$@"
"""


def _ffmpeg(root: Path, mode: str) -> Path:
    """A directory with the scripted ffmpeg and the real ffprobe; `mode` written to its mode file."""
    real = find_binaries()
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "mode").write_text(mode + "\n")
    script = bin_dir / "ffmpeg"
    script.write_text(WRAPPER.format(mode=bin_dir / "mode", real=real.ffmpeg))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    os.symlink(real.ffprobe, bin_dir / "ffprobe")
    return script


def _settings(infra: Infra, root: Path, mode: str, **overrides: object) -> Settings:
    settings = make_settings(infra, root, ffmpeg_path=str(_ffmpeg(root, mode)), **overrides)
    make_source(settings.media_root / "talk.mp4", seconds=16)
    return settings


def _probe_crashes(path: Path) -> bool:
    return subprocess.run([find_binaries().ffprobe, "-v", "quiet", str(path)], check=False).returncode == -11


def _clean(job: dict[str, Any], webhook: dict[str, Any]) -> None:
    shown = json.dumps([job["error"], webhook["data"]["error"]])
    assert not INTERNAL.search(shown), shown


async def _run(settings: Settings, receiver: Receiver) -> tuple[dict[str, Any], dict[str, Any]]:
    async with running_service(settings) as client:
        job = await submit(client, "talk.mp4", highlights=CLIP, webhook_url=receiver.url())
        done = await wait_final(client, job["id"], timeout=120)
        # While the service runs: the webhook is sent from its outbox a moment after the final status is written.
        [request] = await receiver.wait_for(1, timeout=60)
    return done, json.loads(request.body)


async def test_an_encoder_that_fails_fails_the_job_as_processing_failed_in_our_words(
    infra: Infra, tmp_path: Path
) -> None:
    settings = _settings(infra, tmp_path, "crash")
    async with Receiver() as receiver:
        done, webhook = await _run(settings, receiver)
    assert done["status"] == "failed" and done["error"]["code"] == "processing_failed", done["error"]
    assert done["error"]["message"].startswith("The render stage could not process the source with ffmpeg.")
    assert done["attempts"] == 1  # not retried: the same input fails the same way
    assert webhook["type"] == "job.failed" and webhook["data"]["error"] == done["error"]
    _clean(done, webhook)


async def test_an_encoder_killed_every_time_ends_in_retries_exhausted(infra: Infra, tmp_path: Path) -> None:
    settings = _settings(infra, tmp_path, "killed", max_attempts=1)
    async with Receiver() as receiver:
        done, webhook = await _run(settings, receiver)
    assert done["status"] == "failed" and done["error"]["code"] == "retries_exhausted", done["error"]
    assert "the ffmpeg process was killed" in done["error"]["message"]
    _clean(done, webhook)


async def test_an_encoder_killed_once_is_retried_and_the_job_completes(infra: Infra, tmp_path: Path) -> None:
    settings = _settings(infra, tmp_path, "killed-once", max_attempts=2)
    async with Receiver() as receiver:
        done, webhook = await _run(settings, receiver)
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2 and webhook["type"] == "job.completed"
    assert (tmp_path / "bin" / "mode").read_text().strip() == "ok"  # the first encode was the one killed


async def test_an_mpeg_ts_source_the_bundled_ffprobe_crashes_on_fails_once_saying_what_works(
    infra: Infra, tmp_path: Path
) -> None:
    settings = make_settings(infra, tmp_path)
    source = make_source(settings.media_root / "talk.ts", seconds=16)
    if not _probe_crashes(source):
        pytest.skip("this ffprobe reads MPEG-TS: nothing to report")
    async with running_service(settings) as client:
        job = await submit(client, "talk.ts", highlights=CLIP)
        done = await wait_final(client, job["id"], timeout=120)
    assert done["status"] == "failed" and done["attempts"] == 1, done
    assert done["error"]["code"] == "source_unreadable" and "remux it to MP4" in done["error"]["message"]
    assert not INTERNAL.search(json.dumps(done["error"]))
