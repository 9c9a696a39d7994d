"""Real service processes for tests that kill, stop and restart them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil

from app.config import Settings
from app.media.ffmpeg import find_binaries
from app.ops.embedded import free_port

# The gate in front of a process's ffmpeg that `Process.hold_encoder` arms. A run whose arguments name a clip
# with a file in the gate directory takes that file (one rename: of two such runs only one wins) and stops
# itself (SIGSTOP) before ffmpeg starts; SIGCONT lets it exec the real ffmpeg as asked, under the same pid, so the
# worker's parent-death signal and every kill still reach it. Every run is still the real ffmpeg.
_GATE = """#!/bin/sh
for gate in "{gates}"/segment_??; do
    case " $* " in
        *"${{gate##*/}}"*) mv "$gate" "$gate.taken" 2>/dev/null && kill -STOP $$ ;;
    esac
done
exec "{ffmpeg}" "$@"
"""


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a child process read exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "REDIS_"))}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, dict):
            env[name.upper()] = json.dumps(value)
        else:
            env[name.upper()] = ",".join(value) if isinstance(value, list) else str(value)
    env.update(extra)
    return env


class Process:
    """`python -m app.cli <command>` (or another `module` with its arguments) in its own session, logging to a file."""

    def __init__(
        self,
        command: str | Sequence[str],
        env: dict[str, str],
        log: Path,
        *,
        cwd: Path | None = None,
        module: str = "app.cli",
    ) -> None:
        self.argv = [sys.executable, "-m", module, *([command] if isinstance(command, str) else command)]
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        # ffmpeg behind a gate of this process's own (see _GATE), ffprobe beside it as FFMPEG_PATH asks.
        self.gates = log.with_name(f"{log.stem}.gates")
        self.gates.mkdir(parents=True, exist_ok=True)
        real = find_binaries(env.get("FFMPEG_PATH"))
        self._ffmpeg = os.path.realpath(real.ffmpeg)
        gate = self.gates / "ffmpeg"
        gate.write_text(_GATE.format(gates=self.gates, ffmpeg=real.ffmpeg))
        gate.chmod(0o755)
        if not (self.gates / "ffprobe").exists():
            (self.gates / "ffprobe").symlink_to(real.ffprobe)
        self.env = {**env, "FFMPEG_PATH": str(gate)}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill_group(self) -> None:
        """kill -9 the process and everything in its process group."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def hold_encoder(self, clip: int, timeout: float = 60) -> psutil.Process:
        """The first ffmpeg run this process starts for clip `clip`, stopped (SIGSTOP) before it encodes a frame.

        The gate stops the run itself, so the hold does not depend on seeing the encoder in time: on a loaded
        machine a short clip's encode can start and end between two looks (it did, beside four workers and a
        competing encoder). The render is then held at that clip until the test resumes the run (`resume()`:
        ffmpeg starts) or something kills it. A run already past the gate when this is called (started
        before it) is stopped where it is, as before the gate. Blocking: call it in a thread from async code.
        """
        needle = f"segment_{clip:02d}"  # a whole encode, or any part of a smart clip
        gate, taken = self.gates / needle, self.gates / f"{needle}.taken"
        gate.touch()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                assert self.alive(), self.tail()
                for pid in descendants(self.pid):
                    try:
                        child = psutil.Process(pid)
                        if needle not in " ".join(child.cmdline()):
                            continue
                        if child.status() == psutil.STATUS_STOPPED:
                            return child  # caught by the gate
                        # Past the gate before it was armed: stopped where it is.
                        if not taken.exists() and os.path.realpath(child.exe()) == self._ffmpeg:
                            gate.unlink(missing_ok=True)
                            child.suspend()
                            return child
                    except psutil.Error:
                        continue
                time.sleep(0.005)
            raise AssertionError(f"clip {clip} was never encoded:\n" + self.tail())
        finally:
            gate.unlink(missing_ok=True)
            taken.unlink(missing_ok=True)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class Server(Process):
    """`smartedit serve` on a free port, reached over real HTTP."""

    def __init__(self, env: dict[str, str], log: Path, *, cwd: Path | None = None) -> None:
        self.port = free_port()
        super().__init__("serve", {**env, "PORT": str(self.port)}, log, cwd=cwd)
        self.url = f"http://127.0.0.1:{self.port}"
        # One client for every poll: `httpx.get` builds a client, and its TLS context, per call (some 30 ms of CPU).
        self.http = httpx.Client(base_url=self.url, timeout=5)

    def start_ready(self, timeout: float = 90) -> Server:
        self.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive(), self.tail()
            try:
                if self.http.get("/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve did not become ready:\n" + self.tail())

    def job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.http.get(f"/jobs/{job_id}").json()
        return job

    def events(self, job_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.http.get(f"/jobs/{job_id}/events").json()
        return events

    def wait_final(self, job_id: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} did not finish:\n" + self.tail())


# False on a kernel without CONFIG_PROC_CHILDREN: `descendants` then asks psutil.
_KERNEL_LISTS_CHILDREN = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def descendants(pid: int) -> list[int]:
    """Every process under `pid`, from the kernel's list of each thread's children.

    psutil's `children()` reads every process's stat file on each call; a loop that watches for one child
    spent some 8 CPU seconds of the suite doing that.
    """
    if not _KERNEL_LISTS_CHILDREN:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as listed:
                    children = [int(c) for c in listed.read().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def ffmpeg_children_of(directory: Path) -> list[psutil.Process]:
    """ffmpeg processes whose command line mentions `directory` (a job's temp or output dir)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "ffmpeg" in (proc.info["name"] or "") and str(directory) in cmdline:
            found.append(proc)
    return found
