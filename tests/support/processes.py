"""Real service processes for tests that kill, stop and restart them."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil

from app.config import Settings
from app.media.ffmpeg import find_binaries
from app.ops.embedded import free_port

# The gate in front of ffmpeg that `Gate.arm` sets (`Process.arm` for a service process). A run whose arguments
# contain the name of a `<name>.hold` file in the gate directory takes that file (one rename to `<name>.taken`: of
# two such runs only one wins) and stops itself (SIGSTOP) before ffmpeg starts; SIGCONT lets it exec the real ffmpeg
# as asked, under the same pid, so the worker's parent-death signal and every kill still reach it. Every run is
# still the real ffmpeg.
_GATE = """#!/bin/sh
for gate in "{gates}"/*.hold; do
    [ -e "$gate" ] || continue
    name=${{gate##*/}}
    case " $* " in
        *"${{name%.hold}}"*) mv "$gate" "${{gate%.hold}}.taken" 2>/dev/null && kill -STOP $$ ;;
    esac
done
exec "{ffmpeg}" "$@"
"""
# What names the decode that feeds the analysers (`app/media/decode.py`): its frames go to a pipe of this name.
ANALYSIS_DECODE = "decode-frame"


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


class Gate:
    """A directory whose `ffmpeg` (the `path` to give as FFMPEG_PATH) runs the real ffmpeg behind `_GATE`, with
    ffprobe beside it as FFMPEG_PATH asks. `Process` puts one in front of each service process; a test gives one
    to a service it runs in its own process through `Settings.ffmpeg_path`."""

    def __init__(self, directory: Path, ffmpeg_path: str | None = None) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        real = find_binaries(ffmpeg_path)
        self.real_ffmpeg = os.path.realpath(real.ffmpeg)
        self.path = directory / "ffmpeg"
        self.path.write_text(_GATE.format(gates=directory, ffmpeg=real.ffmpeg))
        self.path.chmod(0o755)
        if not (directory / "ffprobe").exists():
            (directory / "ffprobe").symlink_to(real.ffprobe)

    def arm(self, needle: str) -> None:
        """Stop the next ffmpeg run whose arguments contain `needle` at the gate."""
        (self.directory / f"{needle}.hold").touch()

    def stopped_run(
        self, root: int, needle: str, timeout: float, alive: Callable[[], bool] = lambda: True, *, running: bool = False
    ) -> psutil.Process:
        """The run under process `root` that the gate stopped for `needle`; the gate is disarmed on return.

        With `running`, a run that got past the gate before it was armed (the real ffmpeg already, the gate
        untaken) is stopped where it is instead.
        """
        gate, taken = self.directory / f"{needle}.hold", self.directory / f"{needle}.taken"
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                assert alive(), "the process running ffmpeg died"
                for pid in descendants(root):
                    try:
                        child = psutil.Process(pid)
                        if needle not in " ".join(child.cmdline()):
                            continue
                        if child.status() == psutil.STATUS_STOPPED:
                            return child  # caught by the gate
                        if running and not taken.exists() and os.path.realpath(child.exe()) == self.real_ffmpeg:
                            gate.unlink(missing_ok=True)
                            child.suspend()
                            return child
                    except psutil.Error:
                        continue
                time.sleep(0.005)
            raise AssertionError(f"no ffmpeg run with {needle!r} reached the gate")
        finally:
            gate.unlink(missing_ok=True)
            taken.unlink(missing_ok=True)


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
        self.gate = Gate(log.with_name(f"{log.stem}.gates"), env.get("FFMPEG_PATH"))  # ffmpeg behind a gate of its own
        self.env = {**env, "FFMPEG_PATH": str(self.gate.path)}

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

    def arm(self, needle: str) -> None:
        """Stop the next ffmpeg run whose arguments contain `needle` at this process's gate (`Gate.arm`)."""
        self.gate.arm(needle)

    def hold_encoder(self, clip: int, timeout: float = 60) -> psutil.Process:
        """The first ffmpeg run this process starts for clip `clip`, stopped (SIGSTOP) before it encodes a frame.

        The gate stops the run itself, so the hold does not depend on seeing the encoder in time: on a loaded
        machine a short clip's encode can start and end between two looks (it did, beside four workers and a
        competing encoder). The render is then held at that clip until the test resumes the run (`resume()`:
        ffmpeg starts) or something kills it. A run already past the gate when this is called (started
        before it) is stopped where it is, as before the gate. Blocking: call it in a thread from async code.
        """
        needle = f"segment_{clip:02d}"  # a whole encode, or any part of a smart clip
        self.gate.arm(needle)
        return self._stopped(needle, timeout, running=True)

    def hold_analysis_decode(self, timeout: float = 60) -> psutil.Process:
        """The decode that feeds the analysers, stopped mid-stream with its pipes open and their names unlinked:
        what a kill -9 in the middle of analysis finds. `arm(ANALYSIS_DECODE)` before the process starts.

        Each step waits for a state, never for a time, so the decode cannot finish before the hold (a 60 s
        source's decode did, between two looks, beside six workers and a competing encoder): the gate stops the
        run before ffmpeg starts; the worker is stopped and the run let go, so ffmpeg opens every pipe and writes
        into each while nothing reads; with data in every pipe ffmpeg is stopped and the worker let go, whose
        readers see the data, unlink the names and read what is there, and then wait for more. The pipes hold
        seconds of a source, so the source must be longer. Blocking: call it in a thread from async code.
        """
        run = self._stopped(ANALYSIS_DECODE, timeout)
        pipes = [Path(arg) for arg in run.cmdline() if arg.endswith(".fifo")]
        worker = psutil.Process(self.pid)
        worker.suspend()
        try:
            run.resume()
            _until(lambda: all(map(_holds_data, pipes)), timeout, "the decode never wrote into every pipe")
            run.suspend()
        finally:
            worker.resume()
        _until(lambda: not any(p.exists() for p in pipes), timeout, "the worker never opened its pipes")
        return run

    def _stopped(self, needle: str, timeout: float, *, running: bool = False) -> psutil.Process:
        try:
            return self.gate.stopped_run(self.pid, needle, timeout, self.alive, running=running)
        except AssertionError as failure:
            raise AssertionError(f"{failure}:\n{self.tail()}") from None

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


def _until(condition: Callable[[], bool], timeout: float, failure: str) -> None:
    """Wait for `condition`; the timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.005)


def _holds_data(pipe: Path) -> bool:
    """Whether the named pipe has bytes waiting, asked through a read end of our own that reads nothing."""
    try:
        fd = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return any(events & select.POLLIN for _, events in poller.poll(0))
    finally:
        os.close(fd)


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
