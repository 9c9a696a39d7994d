"""Memory and CPU of a process tree while work runs: peak RSS sampled every 50 ms, CPU time accounted at the end."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from types import TracebackType

import psutil

SAMPLE_SECONDS = 0.05
LIST_EVERY = 10  # listing descendants walks all of /proc: every 10th sample; RSS is read every time
MEDIA_TOOLS = frozenset({"ffmpeg", "ffprobe"})


class ProcessSampler:
    """Peak RSS of one process and, summed, of its ffmpeg/ffprobe descendants; CPU time of it and of the rest.

    `pid` is the process to watch (this one by default). Use as a context manager around the work. After it:
    `cpu_seconds` is the watched process's own CPU time (less this sampler's), `children_cpu_seconds` that of
    the children it waited for (ffmpeg), and `other_cpu_seconds` the CPU time everything else on the machine
    used meanwhile: other people's work competing for the cores.
    """

    def __init__(self, pid: int | None = None) -> None:
        self._proc = psutil.Process(pid if pid is not None else os.getpid())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="process-sampler", daemon=True)
        self._tools: list[psutil.Process] = []
        self._start: tuple[float, float, float, dict[int, float]] = (0.0, 0.0, 0.0, {})
        self.peak_main_mb = 0.0
        self.peak_tools_mb = 0.0
        self.samples = 0
        self.sampler_cpu_seconds = 0.0
        self.cpu_seconds = 0.0
        self.children_cpu_seconds = 0.0
        self.other_cpu_seconds = 0.0

    def __enter__(self) -> ProcessSampler:
        self._start = self._cpu_snapshot()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        own0, waited0, busy0, alive0 = self._start
        own1, waited1, busy1, alive1 = self._cpu_snapshot()
        # Descendants still running (embedded PostgreSQL, say): what they used meanwhile is ours too.
        running = sum(cpu - alive0.get(pid, 0.0) for pid, cpu in alive1.items())
        self.cpu_seconds = own1 - own0
        self.children_cpu_seconds = waited1 - waited0
        self.other_cpu_seconds = max(0.0, busy1 - busy0 - self.cpu_seconds - self.children_cpu_seconds - running)
        if self._proc.pid == os.getpid():
            self.cpu_seconds -= self.sampler_cpu_seconds

    def _cpu_snapshot(self) -> tuple[float, float, float, dict[int, float]]:
        t = self._proc.cpu_times()
        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        alive: dict[int, float] = {}
        for child in self._descendants():
            with contextlib.suppress(psutil.Error):
                c = child.cpu_times()
                alive[child.pid] = c.user + c.system
        return t.user + t.system, t.children_user + t.children_system, busy, alive

    def _descendants(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return self._proc.children(recursive=True)
        return []

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.samples % LIST_EVERY == 0:
                self._tools = [c for c in self._descendants() if _name(c) in MEDIA_TOOLS]
            self._sample()
            self._stop.wait(SAMPLE_SECONDS)
        self.sampler_cpu_seconds = time.thread_time()

    def _sample(self) -> None:
        self.samples += 1
        try:
            main = self._proc.memory_info().rss
        except psutil.Error:
            return
        tools, alive = 0, []
        for child in self._tools:
            try:
                tools += child.memory_info().rss
                alive.append(child)
            except psutil.Error:
                continue  # it has finished
        self._tools = alive
        self.peak_main_mb = max(self.peak_main_mb, main / 2**20)
        self.peak_tools_mb = max(self.peak_tools_mb, tools / 2**20)


def _name(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return proc.name()
    return ""
