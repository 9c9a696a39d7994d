"""Who this worker process is, and whether a registered worker is provably dead.

A pid names a process only within one PID namespace of one boot: containers sharing a host name
(host networking) each have their own pid 1, 2, …, and a pid is reused after its process exits.
So a worker is judged dead only when it ran in our PID namespace of this boot and its pid is now
free or names a process started at another time. Anything else is left to its lease running out.
"""

from __future__ import annotations

import os
import socket
import uuid
from functools import cache
from pathlib import Path

import psutil

from app.db import Registration

_START_TOLERANCE_SECONDS = 1.0  # psutil derives start times from clock ticks: allow for rounding


@cache
def boot_id() -> str:
    """The kernel's id of this boot (changes at every reboot)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: the boot time stands in for it
        return f"boot-{psutil.boot_time():.0f}"


def pid_namespace() -> str:
    """The PID namespace this process sees pids in, e.g. pid:[4026531836]."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return "pid:host"


def me() -> Registration:
    """A new registration for this process (a fresh id each time a runner starts)."""
    pid = os.getpid()
    return Registration(
        id=f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}",
        host=socket.gethostname(),
        pid=pid,
        boot_id=boot_id(),
        pid_namespace=pid_namespace(),
        started_at=psutil.Process(pid).create_time(),
    )


def is_dead_local(worker: Registration, *, mine: Registration) -> bool:
    """True only for a worker of our boot and PID namespace whose process no longer runs."""
    if worker.id == mine.id or worker.boot_id != mine.boot_id or worker.pid_namespace != mine.pid_namespace:
        return False
    try:
        process = psutil.Process(worker.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        return abs(process.create_time() - worker.started_at) > _START_TOLERANCE_SECONDS  # the pid was reused
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # cannot tell (permissions): let the lease decide
        return False
