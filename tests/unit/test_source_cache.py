"""The test run's source cache: a source two workers want at once is made once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.support.cache import made_once


def _waited_for(lock: Path) -> bool:
    """True when a request for `lock` is blocked: /proc/locks marks its line "->" and names the file by
    device:inode (its last field but two), so another test's locks are not taken for it."""
    inode = f":{lock.stat().st_ino}"
    return any(
        "->" in line and line.split()[-3].endswith(inode) for line in Path("/proc/locks").read_text().splitlines()
    )


def test_a_source_wanted_while_it_is_being_made_is_waited_for_not_made_again(tmp_path: Path) -> None:
    cached = tmp_path / "talk.mp4"
    made: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def make(part: Path) -> None:
        made.append(threading.current_thread().name)
        if len(made) == 1:
            inside.set()
            release.wait(30)
        part.write_bytes(b"the source")

    first = threading.Thread(target=made_once, args=(cached, make), name="first")
    first.start()
    assert inside.wait(30)
    # A second maker arrives while the first writes (a lock is per open file, so threads stand in for workers).
    second = threading.Thread(target=made_once, args=(cached, make), name="second")
    second.start()
    deadline = time.monotonic() + 30
    lock = tmp_path / ".talk.mp4.lock"  # made_once's lock file, held by the first maker
    while not (_waited_for(lock) or len(made) > 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    first.join(30)
    second.join(30)
    assert made == ["first"]  # the second waited at the lock, then took the first one's file
    assert cached.read_bytes() == b"the source"
    assert made_once(cached, make) == cached and made == ["first"]
