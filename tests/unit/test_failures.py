"""Every failure an attempt can meet, classified once (runner/failures.py), in words with nothing internal in them."""

from __future__ import annotations

import ast
import errno
import os
import re
import socket
from pathlib import Path

import asyncpg
import botocore.exceptions
import pytest
import redis.exceptions

from app.domain.errors import JOB_ERRORS, InputError, QualityTargetMissed, TransientError, VerificationError
from app.domain.jobs import JOB_ERROR_CODES
from app.media.ffmpeg import FFmpegError
from app.net.guard import resolve_public
from app.runner.failures import Outcome, classify
from app.storage.base import ObjectError
from app.storage.http import FetchLimits, fetch
from app.storage.sources import SourceError

ROOT = Path(__file__).resolve().parents[2]
# What a client-facing message must never show: a server path, a heap address, a Python exception's name.
INTERNAL = re.compile(r"/srv|/tmp|secret|0x[0-9a-fA-F]{4,}|\b[A-Z]\w*(?:Error|Exception)\b|Traceback|\[Errno")
STDERR = "[h264 @ 0x55d1c0ffee00] Invalid NAL unit size\n/srv/my media/secret.mp4: Invalid data found when processing"

CASES: list[tuple[BaseException, Outcome, str]] = [
    (SourceError("input_not_found", "Upload 1 is no longer stored; upload it again."), Outcome.FAIL, "input_not_found"),
    (InputError("hdr_unsupported", "HDR input not supported: tone-map it."), Outcome.FAIL, "hdr_unsupported"),
    (QualityTargetMissed("Clip 2 is -19 LUFS.", figures={"spread": 2.0}), Outcome.FAIL, "quality_target_missed"),
    (VerificationError("the reel is 2 frames short"), Outcome.FAIL, "verification_failed"),
    (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), Outcome.HAND_BACK, "service_unavailable"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), Outcome.HAND_BACK, "service_unavailable"),
    (ConnectionResetError(errno.ECONNRESET, "reset by peer"), Outcome.HAND_BACK, "service_unavailable"),
    (redis.exceptions.ConnectionError("Error 111 connecting"), Outcome.HAND_BACK, "service_unavailable"),
    (redis.exceptions.TimeoutError("Timeout reading"), Outcome.HAND_BACK, "service_unavailable"),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://s3"), Outcome.HAND_BACK, "service_unavailable"),
    # An S3 outage that lands mid-download: the body's stream breaks, or ends short of its length.
    (botocore.exceptions.ResponseStreamingError(error="reset"), Outcome.HAND_BACK, "service_unavailable"),
    (TransientError("input_url answered 503"), Outcome.RETRY, "transient"),
    (TimeoutError("DNS lookup of /srv/secret timed out"), Outcome.RETRY, "timeout"),
    (FFmpegError("ffmpeg", -9, STDERR), Outcome.RETRY, "killed"),
    (FFmpegError("ffmpeg", 1, "av_interleaved_write_frame(): No space left on device"), Outcome.RETRY, "disk"),
    (FFmpegError("ffmpeg", 1, STDERR), Outcome.FAIL, "processing_failed"),
    (OSError(errno.ENOSPC, "No space left on device", "/srv/out/secret.mp4"), Outcome.RETRY, "disk"),
    (OSError(errno.EIO, "Input/output error"), Outcome.RETRY, "disk"),
    (PermissionError(errno.EACCES, "Permission denied", "/srv/my media/secret.mp4"), Outcome.FAIL, "io_error"),
    (KeyError("/srv/secret"), Outcome.FAIL, "processing_failed"),
    (AttributeError("'str' object has no attribute 'usage' at 0x7f3a2b1c4d50"), Outcome.FAIL, "processing_failed"),
]


@pytest.mark.parametrize(("exc", "outcome", "code"), CASES, ids=[f"{type(c[0]).__name__}-{c[2]}" for c in CASES])
def test_each_failure_has_one_outcome_and_a_message_without_internals(
    exc: BaseException, outcome: Outcome, code: str
) -> None:
    failure = classify(exc, "render")
    assert (failure.outcome, failure.code) == (outcome, code)
    assert failure.message and not INTERNAL.search(failure.message), failure.message
    if outcome is Outcome.FAIL:
        assert failure.code in JOB_ERRORS
        assert failure.user == JOB_ERRORS[failure.code].user


def test_the_ordering_puts_connection_and_timeout_errors_before_file_errors() -> None:
    # Both are OSErrors: a refused connection is a service's trouble and a timeout passes; neither is io_error.
    assert issubclass(ConnectionRefusedError, OSError) and issubclass(TimeoutError, OSError)
    assert classify(ConnectionRefusedError(), "fetch").outcome is Outcome.HAND_BACK
    assert classify(TimeoutError(), "fetch").outcome is Outcome.RETRY


def _raised_codes() -> set[str]:
    """Every code the app passes to SourceError, InputError, ObjectError or Attempt.fail, read from its source."""
    codes: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in ("SourceError", "InputError", "ObjectError", "fail"):
                    code = node.args[0].value
                    assert isinstance(code, str), f"{path}:{node.lineno}: the code {code!r} is not a string"
                    codes.add(code)
    return codes


def test_every_code_a_job_can_fail_with_is_in_the_one_table() -> None:
    submit_only = {"input_path_unavailable"}  # refused at submit (422), never a job's failure
    assert _raised_codes() - submit_only <= set(JOB_ERRORS), "add the code to JOB_ERRORS in app/domain/errors.py"
    assert set(JOB_ERROR_CODES) == {*JOB_ERRORS, "retrying"}


def test_the_readme_table_is_the_table() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \| (yes|no) \| (yes|no) \| (.+) \|$", readme, re.M)
    yes_no = {True: "yes", False: "no"}
    expected = [(c.code, yes_no[c.user], yes_no[c.retryable], c.meaning) for c in JOB_ERRORS.values()]
    assert rows == expected, "README's job error table must list JOB_ERRORS in order: regenerate it"


def test_ffmpeg_reason_drops_heap_addresses_and_paths() -> None:
    reason = FFmpegError("ffprobe", 1, "[mov,mp4,m4a @ 0x5581c0e4a2c0] moov atom not found").reason
    assert reason == "moov atom not found"
    assert FFmpegError("ffprobe", 1, STDERR).reason == "secret.mp4: Invalid data found when processing"


async def test_a_dns_timeout_or_a_passing_resolver_failure_of_an_input_url_is_retried(tmp_path: Path) -> None:
    limits = FetchLimits(max_bytes=1 << 20, seconds=30.0, allow_private=False, allow_http=True)

    async def stalled(host: str, port: int) -> list[str]:
        raise TimeoutError  # what resolve_public's own deadline raises

    async def again(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    async def unknown(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    for resolver in (stalled, again):
        with pytest.raises(TransientError) as caught:
            await fetch("http://media.example/v.mp4", tmp_path / "v", limits, resolver=resolver)
        assert classify(caught.value, "fetch").outcome is Outcome.RETRY
    with pytest.raises(ObjectError) as refused:
        await fetch("http://media.example/v.mp4", tmp_path / "v", limits, resolver=unknown)
    assert refused.value.code == "input_not_found"


async def test_resolve_public_raises_a_timeout_error_on_a_stalled_lookup() -> None:
    async def stalled(host: str, port: int) -> list[str]:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        await resolve_public("media.example", 443, allow_private=False, resolver=stalled)


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EIO, errno.EDQUOT], ids=errno.errorcode.get)
def test_a_disk_trouble_reads_the_same_from_ffmpeg_and_from_our_own_code(number: int) -> None:
    from_ffmpeg = FFmpegError("ffmpeg", 1, f"[mp4 @ 0x55d0c0ffee00] Error writing trailer: {os.strerror(number)}")
    from_us = OSError(number, os.strerror(number), "/srv/tmp/jobs/x/segment_00.mov")
    ours, theirs = classify(from_us, "render"), classify(from_ffmpeg, "render")
    assert (ours.outcome, ours.code) == (theirs.outcome, theirs.code) == (Outcome.RETRY, "disk")
    assert ours.message == theirs.message
